import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { encodeFrame } from "../../src/codec/index.ts";
import { diamondFiles, D_RECORDS, idsAtD } from "../helpers/projects.ts";
import { childPids, isAlive, startTempest, stopAll } from "../helpers/process.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor, tasksJoined } from "../helpers/tempest.ts";

afterEach(stopAll);
afterAll(cleanupTempDirs);

const LINES = 2000;
const jsonl = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ n: i + 1 })).join("\n") + "\n";

function diamondProject(opts: { join?: "union" | "all"; runtime?: string; tasks?: Record<string, string>; lines?: number } = {}): string {
  return tempProject({
    ...diamondFiles({
      join: opts.join,
      runtime: `[topology.y.source]\ntype = "file"\npath = "in.jsonl"\n\n[topology.y.message]\ntimeout = 5000\n${opts.runtime ?? ""}`,
      tasks: { D: D_RECORDS, ...opts.tasks },
    }),
    "in.jsonl": jsonl(opts.lines ?? LINES),
  });
}

/** The `$TMPDIR/tempest-run-*` folders that process `pid` has open (its children's log files). */
function runFolders(pid: number): string[] {
  const found = new Set<string>();
  for (const p of [pid, ...childPids(pid)]) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^(.*\/tempest-run-[^/]+)\//.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m) found.add(m[1]!);
      } catch {
        // closed while we looked
      }
    }
  }
  return [...found];
}


describe("tempest run: the diamond over a 2,000-line JSONL file", () => {
  test("union: D sees every id exactly twice; exit 0 with a summary", async () => {
    const dir = diamondProject({ join: "union" });
    const r = await runTempest(["run", "y"], { cwd: dir });
    expect(r.code).toBe(0);
    const counts = idsAtD(dir);
    expect(counts.size).toBe(LINES);
    expect([...counts.values()].every((n) => n === 2)).toBe(true);
    expect(r.stdout).toContain(`y: read ${LINES}, completed ${LINES}, retried 0, dead-lettered 0 in`);
    expect(r.stdout).toMatch(/ D +4000 +0 /);
  });

  test("join = \"all\": D sees every id exactly once, with both parents' outputs", async () => {
    const dir = diamondProject({
      join: "all",
      tasks: {
        D: `import { defineTask } from "tempest";
import { appendFileSync, mkdirSync } from "node:fs";
mkdirSync("out", { recursive: true });
export default defineTask({ handle(parts, ctx) {
  if (parts.B.length !== 1 || parts.C.length !== 1 || parts.B[0].n !== parts.C[0].n) throw new Error("bad join " + JSON.stringify(parts));
  appendFileSync("out/d.txt", ctx.msgId + "\\n");
} });
`,
      },
    });
    const r = await runTempest(["run", "y"], { cwd: dir });
    expect(r.code).toBe(0);
    const counts = idsAtD(dir);
    expect(counts.size).toBe(LINES);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(r.stdout).toContain("completed 2000, retried 0, dead-lettered 0");
  });
});

describe("tempest run: failures end in a retry or a dead letter", () => {
  test("one message in ten throws on its first attempt: all complete, the summary shows the retries", async () => {
    const dir = diamondProject({
      tasks: { B: `import { defineTask } from "tempest";
export default defineTask({ handle(msg, ctx) { if (msg.n % 10 === 0 && ctx.attempt === 1) throw new Error("flaky"); return msg; } });
` },
    });
    const r = await runTempest(["run", "y"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`completed ${LINES}, retried ${LINES / 10}, dead-lettered 0`);
    expect(idsAtD(dir).size).toBe(LINES);
  });

  test("a message that always fails is dead-lettered with its error and attempts; the rest complete", async () => {
    const dir = diamondProject({
      runtime: "retry = 2\n",
      tasks: { C: `import { defineTask } from "tempest";
export default defineTask({ handle(msg) { if (msg.n === 7) throw new Error("cannot handle 7"); return msg; } });
` },
    });
    const r = await runTempest(["run", "y"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`completed ${LINES - 1}, retried 2, dead-lettered 1`);
    const letters = readFileSync(join(dir, "dead-letter/y.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(letters.length).toBe(1);
    expect(letters[0]).toMatchObject({ topology: "y", id: "7", message: { n: 7 }, error: "C: cannot handle 7" });
    expect(letters[0].attempts.map((a: { attempt: number; error: string }) => [a.attempt, a.error])).toEqual([[1, "C: cannot handle 7"], [2, "C: cannot handle 7"], [3, "C: cannot handle 7"]]);
  });

  test("a throwing handler: its file:line in the retry's debug log and the dead letter, ISO times; --strict exits 1", async () => {
    const dir = diamondProject({
      lines: 20,
      runtime: "retry = 1\n",
      tasks: { C: `import { defineTask } from "tempest";
function check(n: number) {
  if (n === 7) throw new Error("cannot handle 7");
}
export default defineTask({ handle(msg) { check(msg.n); return msg; } });
` },
    });
    const r = await runTempest(["run", "y", "--strict"], { cwd: dir, env: { TEMPEST_LOG_LEVEL: "debug" } });
    expect(r.stdout).toContain("completed 19, retried 1, dead-lettered 1");
    expect(r.stderr).toMatch(/debug: message 7 failed \(C: cannot handle 7 at src\/tasks\/c\.ts:3:\d+; src\/tasks\/c\.ts:5:\d+\); attempt 2 in \d+ ms/);
    const letter = JSON.parse(readFileSync(join(dir, "dead-letter/y.jsonl"), "utf8").trim());
    expect(letter.where).toMatch(/^src\/tasks\/c\.ts:3:\d+; src\/tasks\/c\.ts:5:\d+$/);
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    expect(letter.at).toMatch(iso);
    for (const a of letter.attempts) {
      expect(a.at).toMatch(iso);
      expect(a.where).toBe(letter.where);
    }
    expect(r.stderr.trimEnd().split("\n").at(-1)).toBe("error: 1 message was dead-lettered (--strict) — see dead-letter/y.jsonl");
    expect(r.code).toBe(1);
    // Without --strict the same run is a success.
    expect((await runTempest(["run", "y"], { cwd: dir })).code).toBe(0);
  });

  test("a handler that never returns for one message: it times out, is retried, then dead-lettered; the run ends", async () => {
    const dir = diamondProject({
      lines: 200,
      runtime: "retry = 1\n",
      tasks: { B: `import { defineTask } from "tempest";
export default defineTask({ handle(msg) { if (msg.n === 3) return new Promise(() => {}); return msg; } });
` },
    });
    const r = await runTempest(["run", "y", "--set", "topology.y.message.timeout=1000"], { cwd: dir, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("read 200, completed 199, retried 1, dead-lettered 1");
    const letter = JSON.parse(readFileSync(join(dir, "dead-letter/y.jsonl"), "utf8").trim());
    expect(letter.id).toBe("3");
    expect(letter.attempts.length).toBe(2);
  });

  test("a line that is not JSON is dead-lettered with the parse error, not a crash", async () => {
    const dir = diamondProject({ lines: 10 });
    await Bun.write(join(dir, "in.jsonl"), `${jsonl(5)}{not json\n${jsonl(4)}`);
    const r = await runTempest(["run", "y"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("read 10, completed 9, retried 0, dead-lettered 1");
    const letter = JSON.parse(readFileSync(join(dir, "dead-letter/y.jsonl"), "utf8").trim());
    expect(letter).toMatchObject({ id: "6", message: "{not json" });
    expect(letter.error).toContain("line 6 is not valid JSON");
  });
});

describe("tempest run: processes die, nothing is lost", () => {
  test("workers = 2 for a slow task, one SIGKILLed mid-run: exit 0 and every id reaches D", async () => {
    const dir = diamondProject({
      runtime: "\n[topology.y.task.B]\nworkers = 2\nconcurrency = 1\n",
      tasks: { B: `import { defineTask } from "tempest";
import { appendFileSync, mkdirSync } from "node:fs";
mkdirSync("pids", { recursive: true });
appendFileSync("pids/B", process.pid + "\\n");
export default defineTask({ async handle(msg) { await Bun.sleep(5); return msg; } });
` },
    });
    const run = startTempest(["run", "y"], { cwd: dir });
    const victim = await waitFor(() => {
      // `tempest run` itself imports the module too (to check it): keep only the workers.
      const pids = existsSync(join(dir, "pids/B")) ? readFileSync(join(dir, "pids/B"), "utf8").trim().split("\n").map(Number).filter((p) => p !== run.proc.pid) : [];
      return pids.length === 2 && idsAtD(dir).size > 300 ? pids[0] : 0;
    }, "both B workers to run and D to see 300 ids", 20_000);
    process.kill(victim, "SIGKILL");
    expect(await run.exited).toBe(0);
    const counts = idsAtD(dir);
    expect(counts.size).toBe(LINES);
    const duplicates = [...counts.values()].reduce((n, c) => n + c - 2, 0);
    console.log(`SIGKILL of one B worker: ${LINES} ids reached D; ${duplicates} duplicate deliveries`);
    expect(run.stderr()).toMatch(/task B#\d was killed by SIGKILL; restarting it in \d+ ms/);
  }, 60_000);

  test("tempest run SIGKILLed: its children exit within 5 seconds, and its temporary folder goes with them", async () => {
    const dir = diamondProject({ runtime: "", tasks: { A: `import { defineTask } from "tempest";
export default defineTask({ async handle(msg) { await Bun.sleep(50); return msg; } });
` } });
    const run = startTempest(["run", "y"], { cwd: dir });
    await waitFor(() => tasksJoined(run.stderr(), ["D"]), "D to join");
    // The topology, the one worker that hosts A, B, C and D, and the supervisor's watchdog.
    await waitFor(() => childPids(run.proc.pid).length === 3, "the topology, the worker and the watchdog to be children of run");
    const children = childPids(run.proc.pid);
    const folders = runFolders(run.proc.pid);
    expect(folders.length).toBe(1);
    const t0 = Date.now();
    run.proc.kill("SIGKILL");
    await waitFor(() => children.every((p) => !isAlive(p)), "every child to exit", 5_000);
    console.log(`orphans gone ${Date.now() - t0} ms after SIGKILL of tempest run`);
    await waitFor(() => !existsSync(folders[0]!), `${folders[0]} to be removed`, 5_000);
  });

  test("SIGTERM on an endless generator drains and exits 0", async () => {
    const dir = tempProject({
      ...diamondFiles(),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 0\nrate = 2000\n`,
    });
    const run = startTempest(["run", "y"], { cwd: dir, env: { TEMPEST_PROGRESS: "1" } });
    // Mid-stream: the progress line says messages are being completed.
    await waitFor(() => /progress: read [\d,]+ · completed [1-9]/.test(run.stderr()), "messages to complete", 20_000);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    if (!run.stdout().includes("y: read")) console.error(run.stderr());
    const m = /y: read (\d+), completed (\d+), retried 0, dead-lettered 0/.exec(run.stdout());
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThan(0);
    expect(m?.[2]).toBe(m?.[1]);
  });

  test("Ctrl-C (SIGINT) drains and exits 0, and the topology says SIGINT, not SIGTERM; a second one ends it at once with 130", async () => {
    const dir = tempProject({
      ...diamondFiles(),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 0\nrate = 2000\n`,
    });
    const run = startTempest(["run", "y"], { cwd: dir });
    await waitFor(() => tasksJoined(run.stderr(), ["A", "B", "C", "D"]), "all four tasks to join");
    run.proc.kill("SIGINT");
    expect(await run.exited).toBe(0);
    const topologyLines = run.stderr().split("\n").filter((l) => l.includes("[topology]"));
    expect(topologyLines.some((l) => l.includes("SIGINT"))).toBe(true);
    expect(topologyLines.some((l) => l.includes("SIGTERM"))).toBe(false);
    expect(run.stdout()).toMatch(/y: read \d+, completed \d+, retried 0, dead-lettered 0/);

    // A handler that never finishes keeps the drain waiting: the second Ctrl-C does not wait.
    const stuck = tempProject({
      ...diamondFiles({ tasks: { B: `import { defineTask } from "tempest";\nimport { writeFileSync } from "node:fs";\nexport default defineTask({ handle() { writeFileSync("b-started", ""); return new Promise(() => {}); } });\n` } }),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 0\nrate = 100\n[topology.y.message]\ntimeout = 60000\n`,
    });
    const second = startTempest(["run", "y"], { cwd: stuck });
    // Once B holds a message for good (the join line alone does not say any has been delivered yet).
    await waitFor(() => existsSync(join(stuck, "b-started")), "B to take a message");
    second.proc.kill("SIGINT");
    await second.waitForStderr(/received SIGINT: stopping the topology/);
    const t0 = Date.now();
    second.proc.kill("SIGINT");
    expect(await second.exited).toBe(130);
    expect(Date.now() - t0).toBeLessThan(5_000);
  }, 60_000);
});

describe("tempest run: what cannot start says so in one line", () => {
  test("a task module with a syntax error", async () => {
    const dir = diamondProject({ tasks: { C: `import { defineTask } from "tempest";\nexport default defineTask({ handle(m) { return m;; ) });\n` } });
    const t0 = Date.now();
    const r = await runTempest(["run", "y"], { cwd: dir });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("src/tasks/c.ts:2:");
    expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
  });

  test("the topology's port is in use", async () => {
    const blocker = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const dir = diamondProject();
      const t0 = Date.now();
      const r = await runTempest(["run", "y", "--port", String(blocker.port)], { cwd: dir });
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error: the topology could not start (exit 1): topology \`y\` cannot listen on 127.0.0.1:${blocker.port}: address already in use — choose another --port`);
    } finally {
      blocker.stop(true);
    }
  });

  test("an unknown topology name", async () => {
    const r = await runTempest(["run", "why"], { cwd: diamondProject() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: no topology named `why` in .*Project.toml — known topologies: y\n$/);
  });

  test("a topology without a source", async () => {
    const r = await runTempest(["run", "y"], { cwd: tempProject(diamondFiles()) });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: topology `y` has no source — add [topology.y.source] to Runtime.toml, e.g. type = \"file\" and path = \"data/input.jsonl\"\n");
  });
});

describe("tempest run: hostile bytes on the topology port close only their own connection", () => {
  test("random bytes, a 4 GiB length prefix and a wrong protocol version", async () => {
    // A slow root task (one call at a time), so the run is still going when the bytes arrive.
    const dir = diamondProject({ runtime: "\n[topology.y.task.A]\nconcurrency = 1\n", tasks: { A: `import { defineTask } from "tempest";
export default defineTask({ async handle(msg) { await Bun.sleep(3); return msg; } });
` } });
    const run = startTempest(["run", "y", "--set", "topology.y.message.timeout=60000"], { cwd: dir });
    const port = Number((await run.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    await waitFor(() => tasksJoined(run.stderr(), ["D"]), "D to join");
    const random = new Uint8Array(256).map(() => Math.floor(Math.random() * 256));
    random[0] = 0; // a small announced length, so the decoder reads a frame of garbage
    random[1] = 0;
    const huge = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    const badVersion = encodeFrame({ type: "hello", version: 99, role: "task", topology: "y", task: "A", instance: "x", pid: 1 });
    for (const bytes of [random, huge, badVersion]) {
      const closed = await new Promise<boolean>((resolve) => {
        const s = createConnection({ host: "127.0.0.1", port }, () => s.write(bytes));
        s.on("data", () => {});
        s.on("error", () => {});
        s.on("close", () => resolve(true));
        setTimeout(() => resolve(false), 8_000);
      });
      expect(closed).toBe(true);
    }
    expect(run.stdout()).toBe(""); // still running: the summary comes at the end
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain(`read ${LINES}, completed ${LINES}, retried 0, dead-lettered 0`);
    expect(run.stderr()).toContain("exceeds max_frame");
    expect(run.stderr()).toContain("protocol version 99 is not supported");
  });
});

describe("tempest run: other sources", () => {
  test("stdin lines", async () => {
    const dir = tempProject({ ...diamondFiles({ tasks: { D: D_RECORDS } }), "Runtime.toml": `[topology.y.source]\ntype = "stdin"\nformat = "lines"\n` });
    const r = await runTempest(["run", "y"], { cwd: dir, stdin: "alpha\nbeta\n\ngamma\n" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("y: read 3, completed 3");
    expect([...idsAtD(dir).keys()].sort()).toEqual(["1", "2", "4"]);
  });

  test("a finite generator", async () => {
    const dir = tempProject({ ...diamondFiles(), "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 5000\nsize = 100\n` });
    const r = await runTempest(["run", "y"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("y: read 5000, completed 5000, retried 0, dead-lettered 0");
  });
});

test("a handler whose output is larger than max_frame fails that message (then dead-letter), not the connection", async () => {
  const dir = diamondProject({
    lines: 20,
    // B in processes of its own, so its output must cross the wire (inside a fused worker it is passed by reference).
    runtime: "retry = 1\n\n[topology.y.task.B]\nisolate = true\n",
    tasks: { B: `import { defineTask } from "tempest";
export default defineTask({ handle(msg) { return msg.n === 5 ? { big: "x".repeat(17 * 1024 * 1024) } : msg; } });
` },
  });
  const r = await runTempest(["run", "y"], { cwd: dir });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("read 20, completed 19, retried 1, dead-lettered 1");
  const letter = JSON.parse(readFileSync(join(dir, "dead-letter/y.jsonl"), "utf8").trim());
  expect(letter.error).toMatch(/^B: the handler's outputs take \d+ bytes, above max_frame \(16777216 bytes\)/);
  expect(r.stderr).not.toContain("left (session"); // no connection was dropped
});
