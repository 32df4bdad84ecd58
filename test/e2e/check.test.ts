import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { TEMPEST, cleanupTempDirs, runTempest, tempProject } from "../helpers/tempest.ts";
import { diamondFiles } from "../helpers/projects.ts";

afterAll(cleanupTempDirs);

const MESSAGE_RUNTIME = `[topology.y.message]\ntimeout = 5000\n`;

describe("check and graph on a good project", () => {
  test("the DSL-in-config diamond passes check and graph prints its four edges", async () => {
    const dir = tempProject(diamondFiles({ runtime: MESSAGE_RUNTIME }));
    const check = await runTempest(["check", "--project", dir]);
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
    expect(check.stdout).toContain("ok: 1 topology, 4 tasks, 4 edges; sources: none");

    const graph = await runTempest(["graph"], { cwd: dir });
    expect(graph.code).toBe(0);
    expect(graph.stdout).toBe("flowchart LR\n    A --> B\n    A --> C\n    B --> D\n    C --> D\n");
  });

  test("graph --out writes one Mermaid file per topology", async () => {
    const dir = tempProject(diamondFiles());
    const r = await runTempest(["graph", "y", "--out", "charts"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(await Bun.file(join(dir, "charts/y.md")).text()).toBe("# y\n\n```mermaid\nflowchart LR\n    A --> B\n    A --> C\n    B --> D\n    C --> D\n```\n");
  });

  test("a topology module importing `tempest` and a package from the user's node_modules loads", async () => {
    const dir = tempProject({
      "Project.toml": `[project]\nmembers = ["projects/p.toml"]\n`,
      "projects/p.toml": `[project]\nname = "p"\n\n[[topology]]\nmod = "src/topology/words.ts"\n`,
      "node_modules/shout/package.json": JSON.stringify({ name: "shout", version: "1.0.0", type: "module", main: "index.js" }),
      "node_modules/shout/index.js": "export const shout = (s) => s.toUpperCase() + '!';\n",
      "src/topology/words.ts": `import { defineTask, defineTopology } from "tempest";
import { shout } from "shout";
const loud = defineTask<string, string>({ handle: (s) => shout(s) });
const quiet = defineTask<string, void>({ handle: () => {} });
export default defineTopology({ name: "words", tasks: { loud, quiet }, graph: "loud --> quiet" });
`,
    });
    const r = await runTempest(["check"], { cwd: join(dir, "src") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("ok: 1 topology, 2 tasks, 1 edge");
  });

  test("the binary copied alone into an empty folder runs --help and check", async () => {
    const dir = tempProject(diamondFiles());
    mkdirSync(join(dir, "bin"));
    const copy = join(dir, "bin", "tempest");
    copyFileSync(TEMPEST, copy);
    const help = Bun.spawnSync([copy, "--help"], { cwd: dir, env: { PATH: "/usr/bin:/bin" } });
    expect(help.exitCode).toBe(0);
    expect(help.stdout.toString()).toContain("check");
    const check = Bun.spawnSync([copy, "check"], { cwd: dir, env: { PATH: "/usr/bin:/bin" } });
    expect(check.stderr.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  });

  test("warnings do not fail check: a duplicate edge and an unused task", async () => {
    const files = diamondFiles();
    files["projects/main.toml"] = (files["projects/main.toml"] as string).replace("C --> D;", "C --> D;\n    C --> D;").replace('name = "D"', 'name = "D"').concat(`\n  [[topology.task]]\n  name = "E"\n  type = "src/tasks/a.ts"\n`);
    const r = await runTempest(["check"], { cwd: tempProject(files) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("projects/main.toml:11:5: warning: topology `y`: duplicate edge `C --> D`");
    expect(r.stderr).toContain("warning: topology `y`: task `E` is defined but not in the graph");
  });
});

interface BadCase {
  name: string;
  files: Record<string, string>;
  args?: string[];
  env?: Record<string, string>;
  /** Every line here must appear in stderr. */
  expect: string[];
  /** stderr is exactly these lines and the count: no cascading second error. */
  only?: boolean;
}

const member = (graph: string, extra = "") =>
  `[project]\nname = "demo"\n\n[[topology]]\nname = "y"\ngraph = """\n${graph}\n"""\n${extra}` +
  ["A", "B", "C", "D"].map((n) => `  [[topology.task]]\n  name = "${n}"\n  type = "src/tasks/${n.toLowerCase()}.ts"\n`).join("");

const cases: BadCase[] = [
  {
    name: "unterminated string in Runtime.toml",
    files: diamondFiles({ runtime: `[project]\ntempest_home = "/.tempest\n` }),
    expect: ["Runtime.toml:2:26: unterminated string in `tempest_home` — close the quote on the same line"],
  },
  {
    name: "a member that does not exist",
    files: { ...diamondFiles(), "Project.toml": `[project]\nmembers = ["projects/main.toml", "projects/nope.toml"]\n` },
    expect: ["Project.toml:2:1: member `projects/nope.toml` does not exist"],
  },
  {
    name: "`mod` pointing at a missing file",
    files: { ...diamondFiles(), "projects/main.toml": `[project]\nname = "demo"\n\n[[topology]]\nmod = "src/topology/nope.ts"\n` },
    expect: ["projects/main.toml:5:1: `mod` names src/topology/nope.ts, which does not exist"],
  },
  {
    name: "a module whose default export is not a topology",
    files: { ...diamondFiles(), "projects/main.toml": `[project]\nname = "demo"\n\n[[topology]]\nmod = "src/topology/t.ts"\n`, "src/topology/t.ts": `export default { name: "t" };\n` },
    expect: ["src/topology/t.ts:1:1: the default export is not a topology — end the module with `export default defineTopology({ name, tasks, graph })` (import { defineTopology } from \"tempest\")"],
    only: true,
  },
  {
    // Runtime.toml configures `t`; the module that would define it is broken: one error, not two.
    name: "a topology module without a default export: its line:col, and no second error about Runtime.toml",
    files: {
      ...diamondFiles({ runtime: `[topology.t.message]\ntimeout = 1000\n` }),
      "projects/main.toml": `[project]\nname = "demo"\n\n[[topology]]\nmod = "src/topology/t.ts"\n`,
      "src/topology/t.ts": `import { defineTopology } from "tempest";\n\nexport const t = defineTopology({ name: "t", tasks: {}, graph: "" });\n`,
    },
    expect: ["src/topology/t.ts:3:18: the module has no default export — end the module with `export default defineTopology({ name, tasks, graph })` (import { defineTopology } from \"tempest\")"],
    only: true,
  },
  {
    name: "a topology module whose graph names an unknown task: the graph's line:col",
    files: {
      ...diamondFiles(),
      "projects/main.toml": `[project]\nname = "demo"\n\n[[topology]]\nmod = "src/topology/t.ts"\n`,
      "src/topology/t.ts": `import { defineTask, defineTopology } from "tempest";\nconst a = defineTask({ handle: (m) => m });\nexport default defineTopology({\n  name: "t",\n  tasks: { a },\n  graph: "a --> b;",\n});\n`,
    },
    expect: ["src/topology/t.ts:6:3: topology `t`: "],
  },
  {
    name: "a task type that does not resolve",
    files: { ...diamondFiles(), "projects/main.toml": member("A --> B; A --> C; B --> D; C --> D;").replace("src/tasks/c.ts", "src/tasks/zz.ts") },
    expect: ["projects/main.toml:17:3: task `C`: type src/tasks/zz.ts does not resolve to a file"],
  },
  {
    name: "a graph naming an undefined task",
    files: { ...diamondFiles(), "projects/main.toml": member("A --> B;\nA --> C;\nB --> D;\nC --> E;") },
    expect: ["projects/main.toml:10:7: topology `y`: the graph names task `E`, which is not defined"],
  },
  {
    name: "a cycle",
    files: { ...diamondFiles(), "projects/main.toml": member("A --> B;\nB --> C;\nC --> D;\nD --> B;") },
    expect: ["topology `y`: the graph has a cycle: B --> C --> D --> B — a topology is a DAG: remove one edge of the cycle"],
  },
  {
    name: "a self edge",
    files: { ...diamondFiles(), "projects/main.toml": member("A --> B --> D;\nA --> C --> D;\nC --> C;") },
    expect: ["projects/main.toml:9:1: topology `y`: task `C` has an edge to itself"],
  },
  {
    name: "a wrong type: timeout = \"soon\"",
    files: diamondFiles({ runtime: `[topology.y.message]\ntimeout = "soon"\n` }),
    expect: ['Runtime.toml:2:1: `topology.y.message.timeout` must be a number, got "soon" — write a number without quotes'],
  },
  {
    name: "an unknown key, with a did-you-mean",
    files: diamondFiles({ runtime: `[topology.y.message]\ntimout = 5000\n` }),
    expect: ["Runtime.toml:2:1: unknown key `timout` in [topology.y.message] — did you mean `timeout`?"],
  },
  {
    name: "an unknown source type",
    files: diamondFiles({ runtime: `[topology.y.source]\ntype = "kafka"\n` }),
    expect: ['Runtime.toml:2:1: `topology.y.source.type` must be one of "file", "stdin", "generator", "redis-stream", got "kafka"'],
  },
  {
    name: "an empty graph",
    files: { ...diamondFiles(), "projects/main.toml": member("") },
    expect: ["topology `y`: the graph is empty"],
  },
  {
    name: "a --set without =",
    files: diamondFiles(),
    args: ["--set", "topology.y.message.timeout"],
    expect: ["--set topology.y.message.timeout: expected key=value — write it as --set topology.<name>.message.timeout=5000"],
  },
  {
    name: "an env override with a wrong type",
    files: diamondFiles(),
    env: { TEMPEST__TOPOLOGY__Y__MESSAGE__TIMEOUT: "soon" },
    expect: ['TEMPEST__TOPOLOGY__Y__MESSAGE__TIMEOUT: `topology.y.message.timeout`: expected a number, got "soon"'],
  },
  {
    name: "an env override of workers that is not a number: the hint gives the range, not an example that could mislead",
    files: diamondFiles(),
    env: { TEMPEST__TOPOLOGY__Y__TASK__A__WORKERS: "abc" },
    expect: ['TEMPEST__TOPOLOGY__Y__TASK__A__WORKERS: `topology.y.task.A.workers`: expected a number, got "abc" — give a whole number of at least 1'],
  },
  {
    name: "a --set naming an unknown topology",
    files: diamondFiles(),
    args: ["--set", "topology.why.message.retry=2"],
    expect: ["--set topology.why.message.retry=2: there is no topology `why` — known: y"],
  },
  {
    name: "a duplicate task",
    files: { ...diamondFiles(), "projects/main.toml": `${member("A --> B; A --> C; B --> D; C --> D;")}  [[topology.task]]\n  name = "B"\n  type = "src/tasks/b.ts"\n` },
    expect: ["projects/main.toml:22:3: task `B` is defined twice in topology `y`"],
  },
  {
    name: "a task module with a syntax error",
    files: diamondFiles({ tasks: { B: `import { defineTask } from "tempest";\nexport default defineTask({\n  handle(msg) { return msg,, }\n});\n` } }),
    expect: ["src/tasks/b.ts:3:"],
  },
  {
    name: "a task module that throws while loading",
    files: diamondFiles({ tasks: { C: `throw new Error("no config");\n` } }),
    expect: ["src/tasks/c.ts:1:", "the module threw while loading: no config"],
  },
  {
    name: "a task module that exports no task",
    files: diamondFiles({ tasks: { A: `export const helper = 1;\n` } }),
    expect: ["projects/main.toml:14:3: task `A`: the default export of src/tasks/a.ts is not a task — define it with defineTask"],
  },
  {
    name: "a named export that does not exist, with the ones that do",
    files: { ...diamondFiles({ tasks: { A: `import { defineTask } from "tempest";\nexport const first = defineTask({ handle: (m) => m });\n` } }), "projects/main.toml": member("A --> B; A --> C; B --> D; C --> D;").replace('"src/tasks/a.ts"', '"src/tasks/a.ts#frist"') },
    expect: ['task `A`: export `frist` of src/tasks/a.ts is not a task — it exports the task(s) first: write type = "src/tasks/a.ts#first"'],
  },
  {
    name: "Runtime.toml configures a topology that does not exist",
    files: diamondFiles({ runtime: `[topology.x.message]\nretry = 1\n` }),
    expect: ["Runtime.toml:1:1: [topology.x] configures a topology that the project does not define — known topologies: y"],
  },
  {
    name: "Runtime.toml configures a task the topology does not have",
    files: diamondFiles({ runtime: `[topology.y.task.E]\nworkers = 2\n` }),
    expect: ["Runtime.toml:1:1: [topology.y.task.E] configures a task that topology `y` does not have — its tasks: A, B, C, D"],
  },
  {
    name: "a source key that the source type does not take",
    files: diamondFiles({ runtime: `[topology.y.source]\ntype = "file"\npath = "in.jsonl"\ncount = 5\n` }),
    expect: ["Runtime.toml:4:1: `count` is not a setting of a file source — a file source takes: type, path, format"],
  },
  {
    name: "a file source without a path",
    files: diamondFiles({ runtime: `[topology.y.source]\ntype = "file"\n` }),
    expect: ["Runtime.toml:2:1: a file source needs `path`"],
  },
  {
    name: "workers = 0",
    files: diamondFiles({ runtime: `[topology.y.task.B]\nworkers = 0\n` }),
    expect: ["Runtime.toml:2:1: `topology.y.task.B.workers` must be at least 1, got 0"],
  },
  {
    name: "an unsupported link in the graph",
    files: { ...diamondFiles(), "projects/main.toml": member("A -> B; A --> C; B --> D; C --> D;") },
    expect: ["projects/main.toml:7:3: topology `y`: unsupported link `->` — edges are written `A --> B`"],
  },
  {
    name: "a wrong join value",
    files: { ...diamondFiles(), "projects/main.toml": member("A --> B; A --> C; B --> D; C --> D;").replace('name = "D"', 'name = "D"\n  join = "any"') },
    expect: ['projects/main.toml:20:3: `topology.0.task.3.join` must be one of "union", "all", got "any"'],
  },
  {
    name: "a member without a project name",
    files: { ...diamondFiles(), "projects/main.toml": member("A --> B; A --> C; B --> D; C --> D;").replace('name = "demo"\n', "") },
    expect: ["projects/main.toml:1:1: `project.name` is missing"],
  },
  {
    name: "no Project.toml anywhere",
    files: { "README.md": "nothing here\n" },
    expect: ["error: no Project.toml in"],
  },
  {
    name: "an unknown flag",
    files: diamondFiles(),
    args: ["--projct", "."],
    expect: ["error: unknown option `--projct` for `tempest check`"],
  },
];

describe("check reports malformed input with exit code 2 and one line per problem", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const dir = tempProject(c.files);
      const r = await runTempest(["check", ...(c.args ?? [])], { cwd: dir, env: c.env });
      for (const line of c.expect) expect(r.stderr).toContain(line);
      if (c.only) expect(r.stderr).toBe(`${c.expect.join("\n")}\n${c.expect.length} error${c.expect.length === 1 ? "" : "s"} found\n`);
      expect(r.stderr).not.toContain("    at ");
      expect(r.code).toBe(2);
    });
  }
});
