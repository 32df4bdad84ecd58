import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTempest, stopAll } from "../helpers/process.ts";
import { startRedis, stopAllRedis } from "../helpers/redis.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor, writeFiles } from "../helpers/tempest.ts";

afterEach(stopAll);
afterAll(async () => {
  await stopAllRedis();
  cleanupTempDirs();
});

/** `tempest new <name> [args]` in a fresh temp folder; returns the project folder. */
async function newProject(name: string, args: string[] = []): Promise<string> {
  const parent = tempProject({}, "tempest-new-");
  const r = await runTempest(["new", name, ...args], { cwd: parent });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return join(parent, name);
}

describe("tempest new: every built-in template works at once", () => {
  test("default: new prints the next commands; check, run and test pass", async () => {
    const parent = tempProject({}, "tempest-new-");
    const made = await runTempest(["new", "demo"], { cwd: parent });
    expect(made.code).toBe(0);
    expect(made.stdout).toContain("created demo: project `demo` from template default, 13 files");
    expect(made.stdout).toContain("  cd demo\n");
    expect(made.stdout).toContain("  tempest run demo ");
    const dir = join(parent, "demo");
    for (const f of ["Project.toml", "projects/demo.toml", "src/topology/demo.ts", "src/tasks/split.ts", "src/tasks/count.ts", "Runtime.toml", "data/sample.jsonl", "package.json", "tsconfig.json", "test/split.test.ts", ".gitignore", "README.md", "types/tempest.d.ts"]) {
      expect(existsSync(join(dir, f))).toBe(true);
    }
    expect(readFileSync(join(dir, "projects/demo.toml"), "utf8")).toContain('name = "demo"');

    const check = await runTempest(["check"], { cwd: dir });
    expect(check.stderr).toBe("");
    expect(check.stdout).toContain("ok: 1 topology, 2 tasks, 1 edge; sources: file");
    const run = await runTempest(["run", "demo"], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("demo: read 20, completed 20, retried 0, dead-lettered 0 in");
    expect(run.stderr).toContain("[count#0] top words: the 19, was 12, of 11");
    const t = await runTempest(["test"], { cwd: dir });
    expect(t.code).toBe(0);
    expect(t.stderr).toContain(" 2 pass\n 0 fail");
  });

  test("diamond: a DAG in TOML with a join; check, run and test pass", async () => {
    const dir = await newProject("shop", ["--template", "diamond"]);
    const check = await runTempest(["check"], { cwd: dir });
    expect(check.stdout).toContain("ok: 1 topology, 4 tasks, 4 edges; sources: file");
    const run = await runTempest(["run", "shop"], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("shop: read 50, completed 50, retried 0, dead-lettered 0 in");
    expect(run.stderr).toContain("[report#0] 50 orders joined:");
    const t = await runTempest(["test"], { cwd: dir });
    expect(t.code).toBe(0);
    expect(t.stderr).toContain(" 2 pass\n 0 fail");
  });

  test("redis-stream: check and test need no Redis; run reads the stream until SIGTERM", async () => {
    const dir = await newProject("events", ["--template", "redis-stream", "--name", "clicks"]);
    const runtime = readFileSync(join(dir, "Runtime.toml"), "utf8");
    expect(runtime).toContain('[topology.clicks.source]\ntype = "redis-stream"');
    expect(runtime).toContain('key = "clicks:events"');
    expect(readFileSync(join(dir, "README.md"), "utf8")).toContain("redis-cli XADD clicks:events '*' user ada action buy amount 3");
    const check = await runTempest(["check"], { cwd: dir });
    expect(check.stdout).toContain("ok: 1 topology, 2 tasks, 1 edge; sources: redis-stream");
    const t = await runTempest(["test", "--timeout", "20000"], { cwd: dir });
    expect(t.code).toBe(0);
    expect(t.stderr).toContain(" 3 pass\n 0 fail");

    const redis = await startRedis();
    const key = `${redis.prefix()}:events`;
    await redis.xadd(key, 3, (i) => ({ user: i === 2 ? "bob" : "ada", action: "buy", amount: String(i) }));
    await redis.xadd(key, 1, () => ({ action: "broken" }));
    const run = startTempest(["run", "clicks", "--set", `topology.clicks.source.key=${key}`], { cwd: dir, env: { TEMPEST_REDIS_URL: redis.url } });
    await waitFor(async () => Number(await redis.call("XLEN", `${key}:dead`)) === 1, "the entry without a user to be dead-lettered", 30_000);
    await waitFor(async () => {
      const groups = (await redis.call("XINFO", "GROUPS", key)) as unknown[][];
      const g = groups[0] ?? [];
      return g[g.indexOf("pending") + 1] === 0 && g[g.indexOf("entries-read") + 1] === 4;
    }, "every entry to be acked", 15_000);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toMatch(/clicks: read \d+, completed 3, retried \d+, dead-lettered 1 in/);
    expect(run.stderr()).toContain("[tally#0] totals: ada 2 events, 4; bob 1 events, 2");
  }, 60_000);
});

test("tempest test runs from any folder of the project, passes arguments on and exits with bun test's code", async () => {
  const dir = await newProject("demo");
  const filtered = await runTempest(["test", "-t", "empty line"], { cwd: join(dir, "src") });
  expect(filtered.code).toBe(0);
  expect(filtered.stderr).toContain(" 1 pass\n 1 filtered out\n 0 fail");
  writeFileSync(join(dir, "test/broken.test.ts"), `import { expect, test } from "bun:test";\nimport { defineTask } from "tempest";\ntest("sdk", () => expect(defineTask({ handle: () => 1 }).kind).toBe("nope"));\n`);
  const failing = await runTempest(["test", "--project", dir, "broken"], { cwd: tempProject({}) });
  expect(failing.code).toBe(1);
  expect(failing.stderr).toContain(`Expected: "nope"\nReceived: "tempest.task"`);
  expect(failing.stderr).toContain(" 0 pass\n 1 fail");
});

describe("tempest generate", () => {
  test("generate task in a TOML topology: the file, its test, the entry and an edge; check, graph and test see it", async () => {
    const dir = await newProject("shop", ["--template", "diamond"]);
    const gen = await runTempest(["generate", "task", "audit"], { cwd: dir });
    expect(gen.stderr).toBe("");
    expect(gen.code).toBe(0);
    expect(gen.stdout).toBe("created src/tasks/audit.ts\ncreated test/audit.test.ts\nedited  projects/shop.toml\nwired in: risk --> audit in topology `shop` (risk is the last task with children (report), so it sends messages; report has none and may return nothing; --after TASK to choose)\n");
    expect(readFileSync(join(dir, "projects/shop.toml"), "utf8")).toEndWith(`  join = "all"        # called once per order, with { tax: [...], risk: [...] }\n\n  [[topology.task]]\n  name = "audit"\n  type = "src/tasks/audit.ts"\n`);
    const check = await runTempest(["check"], { cwd: dir });
    expect(check.stderr).toBe("");
    expect(check.stdout).toContain("ok: 1 topology, 5 tasks, 5 edges");
    const graph = await runTempest(["graph"], { cwd: dir });
    expect(graph.stdout).toEndWith("    risk --> report\n    risk --> audit\n");
    const t = await runTempest(["test", "test/audit.test.ts"], { cwd: dir });
    expect(t.code).toBe(0);
    expect(t.stderr).toContain(" 1 pass\n 0 fail");
  });

  test("generate task without --after never follows a task that may be a sink; it says why, warns for one given, asks when nothing is known", async () => {
    const dir = await newProject("demo");
    rmSync(join(dir, "test"), { recursive: true });
    const gen = await runTempest(["generate", "task", "enrich"], { cwd: dir });
    expect(gen.code).toBe(0);
    expect(gen.stdout).toContain(`  graph: "… split --> enrich;",\nafter split: split is the last task with children (count), so it sends messages; count has none and may return nothing; --after TASK to choose\n`);
    // The test the README promises, even in a project that had no test/ folder.
    expect(existsSync(join(dir, "test/enrich.test.ts"))).toBe(true);
    const sink = await runTempest(["generate", "task", "late", "--after", "count"], { cwd: dir });
    expect(sink.code).toBe(0);
    expect(sink.stderr).toBe("warning: count has no children yet: if it returns nothing, late never gets a message\n");

    await runTempest(["generate", "topology", "solo"], { cwd: dir });
    const asked = await runTempest(["generate", "task", "next", "--topology", "solo"], { cwd: dir });
    expect(asked.code).toBe(2);
    expect(asked.stderr).toBe("error: topology `solo` has no task with children, and a task without children may return nothing: which one does `next` follow? — pass --after TASK, one of: hello\n");
    expect(existsSync(join(dir, "src/tasks/next.ts"))).toBe(false);
  });

  test("generate task for a topology module prints the lines to add; with them, graph shows the task", async () => {
    const dir = await newProject("demo");
    const gen = await runTempest(["generate", "task", "enrich", "--after", "split"], { cwd: dir });
    expect(gen.code).toBe(0);
    expect(gen.stdout).toContain(`add it to src/topology/demo.ts yourself:\n  import enrich from "../tasks/enrich.ts";\n  tasks: { split, count, enrich },\n  graph: "… split --> enrich;",\n`);
    const file = join(dir, "src/topology/demo.ts");
    writeFileSync(file, readFileSync(file, "utf8")
      .replace(`import split from "../tasks/split.ts";`, `import split from "../tasks/split.ts";\nimport enrich from "../tasks/enrich.ts";`)
      .replace("tasks: { split, count },", "tasks: { split, count, enrich },")
      .replace(`graph: "split --> count;"`, `graph: "split --> count; split --> enrich;"`));
    const check = await runTempest(["check"], { cwd: dir });
    expect(check.stderr).toBe("");
    expect(check.stdout).toContain("ok: 1 topology, 3 tasks, 2 edges");
    expect((await runTempest(["graph"], { cwd: dir })).stdout).toBe("flowchart LR\n    split --> count\n    split --> enrich\n");
  });

  test("generate topology: a module, its member entry and a generator source; it runs", async () => {
    const dir = await newProject("demo");
    const gen = await runTempest(["generate", "topology", "clicks"], { cwd: dir });
    expect(gen.stdout).toBe("created src/topology/clicks.ts\nedited  projects/demo.toml\nedited  Runtime.toml\nrun it: tempest run clicks\n");
    const check = await runTempest(["check"], { cwd: dir });
    expect(check.stdout).toContain("ok: 2 topologies, 3 tasks, 1 edge; sources: file, generator");
    const run = await runTempest(["run", "clicks"], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("clicks: read 100, completed 100, retried 0, dead-lettered 0 in");
    // With two topologies, a task needs --topology.
    const which = await runTempest(["generate", "task", "x"], { cwd: dir });
    expect(which.code).toBe(2);
    expect(which.stderr).toBe("error: the project has 2 topologies: which one gets the task? — pass --topology, one of: demo, clicks\n");
  });

  test("generate refuses bad and taken names", async () => {
    const dir = await newProject("demo");
    const cases: Array<[string[], string]> = [
      [["generate", "task", "2fast"], "error: `2fast` is not a valid task name — use letters, digits and _, starting with a letter (e.g. enrich_orders)\n"],
      [["generate", "task", "split"], "error: topology `demo` already has a task `split` — choose another name\n"],
      [["generate", "task", "x", "--topology", "demoo"], "error: no topology named `demoo` — did you mean `demo`?\n"],
      [["generate", "topology", "demo"], "error: topology `demo` already exists (src/topology/demo.ts) — choose another name\n"],
    ];
    for (const [args, stderr] of cases) {
      const r = await runTempest(args, { cwd: dir });
      expect(r.stderr).toBe(stderr);
      expect(r.code).toBe(2);
    }
  });
});

describe("tempest new: a local template folder", () => {
  test("placeholders in names and contents are filled; the result checks", async () => {
    const tpl = tempProject({
      "Project.toml": `[project]\nmembers = ["projects/{{project-name}}.toml"]\n`,
      "projects/{{project-name}}.toml": `[project]\nname = "{{project-name}}"\n\n[[topology]]\nname = "{{topology}}"\ngraph = "a"\n  [[topology.task]]\n  name = "a"\n  type = "src/a.ts"\n`,
      "src/a.ts": `import { defineTask } from "tempest";\nexport default defineTask({ handle: (m) => m });\n`,
      "NOTES.md": "by {{author}}\n",
    }, "tempest-tpl-");
    const parent = tempProject({}, "tempest-new-");
    const r = await runTempest(["new", "my-app", "--template", tpl], { cwd: parent });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${tpl}/NOTES.md:1:4: warning: unknown placeholder {{author}} left as it is — known placeholders: {{project-name}}, {{project_name}}, {{topology}}, {{tempest-version}}\n`);
    const dir = join(parent, "my-app");
    expect(existsSync(join(dir, "projects/my-app.toml"))).toBe(true);
    expect(existsSync(join(dir, "types/tempest.d.ts"))).toBe(true);
    const check = await runTempest(["check"], { cwd: dir });
    expect(check.stdout).toContain("my_app               1 task");
  });
});

describe("tempest new: bad inputs are one line and exit 2", () => {
  test.each([
    ["a non-empty folder", (p: string) => (writeFiles(join(p, "busy"), { "notes.txt": "mine" }), ["new", "busy"]), "error: busy is not empty (1 entry) — choose a new folder, or pass --force to write into it (files with the same names are replaced)\n"],
    ["an invalid name from the folder", () => ["new", "My Streams"], "error: `My Streams` is not a valid project name — use lowercase letters, digits, - and _, starting with a letter (e.g. my-streams); or pass --name NAME\n"],
    ["an invalid --name", () => ["new", "x", "--name", "1st"], "error: `1st` is not a valid project name — use lowercase letters, digits, - and _, starting with a letter (e.g. my-streams)\n"],
    ["an unknown template", () => ["new", "x", "--template", "diamnod"], "error: unknown template `diamnod` — did you mean `diamond`? built-in templates: default, diamond, redis-stream; or give the path of a template folder, e.g. ./my-template\n"],
    ["a template folder without the name placeholder", (p: string) => (writeFiles(join(p, "tpl"), { "Project.toml": "[project]\n", "projects/main.toml": `[project]\nname = "fixed"\n` }), ["new", "x", "--template", "./tpl"]),
      "error: template folder ./tpl never uses {{project-name}} — put it where the project's name goes, e.g. name = \"{{project-name}}\" in its member file (placeholders: {{project-name}}, {{project_name}}, {{topology}}, {{tempest-version}})\n"],
    ["a template folder without Project.toml", (p: string) => (writeFiles(join(p, "tpl"), { "README.md": "{{project-name}}\n" }), ["new", "x", "--template", "./tpl"]),
      "error: template folder ./tpl has no Project.toml — a template is a Tempest project with placeholders: Project.toml at its root, a member file, modules\n"],
    ["a missing template folder", () => ["new", "x", "--template", "./nowhere"], "error: template folder ./nowhere does not exist — give a folder holding a Tempest project with placeholders, or a built-in template: default, diamond, redis-stream\n"],
  ] as Array<[string, (parent: string) => string[], string]>)("%s", async (_name, setup, stderr) => {
    const parent = tempProject({}, "tempest-new-");
    const r = await runTempest(setup(parent), { cwd: parent });
    expect(r.stderr).toBe(stderr);
    expect(r.code).toBe(2);
    expect(existsSync(join(parent, "x"))).toBe(false);
  });

  test("--force writes into a non-empty folder and keeps other files", async () => {
    const parent = tempProject({}, "tempest-new-");
    mkdirSync(join(parent, "busy"));
    writeFileSync(join(parent, "busy/notes.txt"), "mine");
    const r = await runTempest(["new", "busy", "--force"], { cwd: parent });
    expect(r.code).toBe(0);
    expect(readFileSync(join(parent, "busy/notes.txt"), "utf8")).toBe("mine");
    expect(existsSync(join(parent, "busy/Project.toml"))).toBe(true);
  });
});
