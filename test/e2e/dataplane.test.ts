/**
 * Data plane 2, as a user sees it through `tempest run` of the compiled binary: waiting is not
 * failing (slow tasks, a task that connects late), silent workers lose their leases before
 * the work times out, and a killed fused worker loses nothing.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { diamondFiles, D_RECORDS, idsAtD } from "../helpers/projects.ts";
import { childPids, isAlive, startTempest, stopAll } from "../helpers/process.ts";
import { cleanupTempDirs, runTempest, tasksJoined, tempProject, waitFor } from "../helpers/tempest.ts";

afterEach(stopAll);
afterAll(cleanupTempDirs);


function summaryOf(stdout: string): { read: number; completed: number; retried: number; dead: number } {
  const m = /read (\d+), completed (\d+), retried (\d+), dead-lettered (\d+)/.exec(stdout);
  if (!m) throw new Error(`no summary in ${JSON.stringify(stdout)}`);
  return { read: Number(m[1]), completed: Number(m[2]), retried: Number(m[3]), dead: Number(m[4]) };
}

/** The pid of the worker process started as `task y <task> … --instance <i>`. */
function workerPid(runPid: number, task: string, instance: number): number | undefined {
  return childPids(runPid).find((p) => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      const at = argv.indexOf("task");
      return at >= 0 && argv[at + 2] === task && argv[argv.indexOf("--instance") + 1] === String(instance);
    } catch {
      return false;
    }
  });
}

describe("waiting is not failing", () => {
  test("a 50 ms task at default settings, then Ctrl-C: nothing retried or dead-lettered, what was in flight finishes", async () => {
    // The skeleton's timeout of 5 s: before, roots timed out while they waited in the topology's queue.
    const dir = tempProject({
      ...diamondFiles({ tasks: { B: `import { defineTask } from "tempest";\nexport default defineTask({ async handle(msg) { await Bun.sleep(50); return msg; } });\n`, D: D_RECORDS } }),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 0\n\n[topology.y.message]\ntimeout = 5000\n`,
    });
    const run = startTempest(["run", "y"], { cwd: dir, env: { TEMPEST_PROGRESS: "1" } });
    // Past the 5 s timeout, so a root that waited in a queue would have been retried by now.
    await waitFor(() => (run.stderr().match(/progress: /g)?.length ?? 0) >= 4, "four progress lines (8 s)", 40_000);
    run.proc.kill("SIGINT");
    expect(await run.exited).toBe(0);
    const s = summaryOf(run.stdout());
    console.log(`50 ms task: ${run.stdout().split("\n")[0]}`);
    expect(s.retried).toBe(0);
    expect(s.dead).toBe(0);
    expect(s.completed).toBe(s.read);
    expect(s.completed).toBeGreaterThan(100);
    // Each completed root reached D twice (through B and C), none more.
    const seen = idsAtD(dir);
    expect(seen.size).toBe(s.completed);
    expect([...seen.values()].every((n) => n === 2)).toBe(true);
    expect(run.stderr()).not.toMatch(/failed, retrying|timed out/);
  }, 60_000);

  test("the root task connects 6 s after the topology, timeout 1 s: nothing retried or dead-lettered; the wait is said once", async () => {
    const dir = tempProject({
      ...diamondFiles({ tasks: { A: `import { defineTask } from "tempest";\nawait Bun.sleep(6000);\nexport default defineTask({ handle(msg) { return msg; } });\n`, D: D_RECORDS } }),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 200\n\n[topology.y.message]\ntimeout = 1000\n`,
    });
    const r = await runTempest(["run", "y"], { cwd: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const s = summaryOf(r.stdout);
    expect(s).toEqual({ read: 200, completed: 200, retried: 0, dead: 0 });
    expect(r.stderr.match(/waiting for task `A`/g)?.length).toBe(1);
    expect(r.stderr).toMatch(/task `A` \(a worker with `B`, `C`, `D`\) connected after \d+\.\d s/);
    expect(idsAtD(dir).size).toBe(200);
  }, 60_000);
});

describe("a worker frozen with SIGSTOP holding leases", () => {
  test("its work completes on the other instance before the timeout; SIGCONT later loses nothing and its late answers are ignored", async () => {
    const dir = tempProject({
      ...diamondFiles({ tasks: { B: `import { defineTask } from "tempest";\nexport default defineTask({ async handle(msg) { await Bun.sleep(5); return msg; } });\n`, D: D_RECORDS } }),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 3000\nrate = 300\n\n[topology.y.message]\ntimeout = 15000\nlease = 3000\n` +
        ["A", "B", "C", "D"].map((t) => `\n[topology.y.task.${t}]\nworkers = 2\n`).join(""),
    });
    const run = startTempest(["run", "y"], { cwd: dir, env: { TEMPEST_PROGRESS: "1" } });
    await waitFor(() => tasksJoined(run.stderr(), ["A", "B", "C", "D"], 1) && tasksJoined(run.stderr(), ["A", "B", "C", "D"], 0), "both workers to join", 20_000);
    await waitFor(() => /progress: read [\d,]+ · completed [1-9]/.test(run.stderr()), "messages to complete", 20_000);
    const frozen = await waitFor(() => workerPid(run.proc.pid, "A", 1), "worker A#1's pid");
    process.kill(frozen, "SIGSTOP");
    const stoppedAt = Date.now();
    try {
      // While it is frozen, the other worker finishes everything, the frozen one's share included.
      await waitFor(() => /\[topology\] y: read 3000, completed 3000/.test(run.stderr()) || idsAtD(dir).size === 3000, "every id to reach D", 40_000);
      const took = Date.now() - stoppedAt;
      console.log(`SIGSTOP: every id reached D ${took} ms after the freeze (lease 3 s, timeout 15 s)`);
    } finally {
      process.kill(frozen, "SIGCONT");
    }
    expect(await run.exited).toBe(0);
    const s = summaryOf(run.stdout());
    expect(s).toEqual({ read: 3000, completed: 3000, retried: 0, dead: 0 });
    const seen = idsAtD(dir);
    expect(seen.size).toBe(3000);
    expect(run.stderr()).toMatch(/dropping task A#1 from .*: silent for \d+ ms|task A#1 left/);
  }, 90_000);
});

describe("SIGKILL of a fused worker mid-run", () => {
  test("it is restarted and every id reaches D", async () => {
    const dir = tempProject({
      ...diamondFiles({ tasks: { B: `import { defineTask } from "tempest";\nexport default defineTask({ async handle(msg) { await Bun.sleep(2); return msg; } });\n`, D: D_RECORDS } }),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 4000\nrate = 1000\n`,
    });
    const run = startTempest(["run", "y"], { cwd: dir });
    await waitFor(() => idsAtD(dir).size > 500, "500 ids at D", 30_000);
    const pid = await waitFor(() => workerPid(run.proc.pid, "A", 0), "the worker's pid");
    process.kill(pid, "SIGKILL");
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/worker A#0 \(tasks A, B, C, D\) was killed by SIGKILL; restarting it/);
    const s = summaryOf(run.stdout());
    expect(s.completed + s.dead).toBe(4000);
    expect(s.dead).toBe(0);
    const seen = idsAtD(dir);
    for (let i = 1; i <= 4000; i++) expect(seen.has(String(i))).toBe(true);
  }, 60_000);
});

describe("a message that makes its worker exit", () => {
  const poison = (how: string) => `import { defineTask } from "tempest";\nexport default defineTask({ handle(msg) { if (msg.seq === 7) ${how}; return msg; } });\n`;

  for (const [name, how, runtime] of [
    ["in a fused worker (process.exit)", "process.exit(1)", ""],
    ["in an isolated task with two workers (SIGKILL)", `process.kill(process.pid, "SIGKILL")`, `\n[topology.y.task.A]\nisolate = true\nworkers = 2\n`],
  ] as const) {
    test(`${name}: dead-lettered at once, every other message completes, the run ends 0`, async () => {
      const dir = tempProject({
        ...diamondFiles({ tasks: { A: poison(how), D: D_RECORDS } }),
        "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 200\n\n[topology.y.message]\nretry = 3\n${runtime}`,
      });
      const r = await runTempest(["run", "y"], { cwd: dir, timeoutMs: 60_000 });
      expect(r.code).toBe(0);
      // Before: each restart took the message again; 11 crashes in 13 s, then `read 32, completed 0` and exit 1.
      expect(summaryOf(r.stdout)).toEqual({ read: 200, completed: 199, retried: 0, dead: 1 });
      const seen = idsAtD(dir);
      expect(seen.size).toBe(199);
      expect(seen.has("7")).toBe(false);
      const crashes = r.stderr.match(/(exited with code 1|was killed by SIGKILL); restarting it/g)?.length ?? 0;
      expect(crashes).toBeGreaterThanOrEqual(2);
      expect(crashes).toBeLessThanOrEqual(3); // the first with others held, then twice alone
      const dead = readFileSync(join(dir, "dead-letter/y.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      expect(dead.length).toBe(1);
      expect(dead[0].id).toBe("7");
      expect(dead[0].error).toBe("A: its worker died or hung 2 times while it held this message and nothing else (a message that kills or hangs its worker is dead-lettered at once, not retried)");
    }, 60_000);
  }

  test("a worker frozen (SIGSTOP) for longer than the watchdog's limit is not ended when it resumes: a pause is not a hang", async () => {
    const dir = tempProject({
      ...diamondFiles({ tasks: { D: D_RECORDS } }),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 0\nrate = 200\n\n[topology.y.task.B]\nisolate = true\n`,
    });
    const run = startTempest(["run", "y"], { cwd: dir, env: { TEMPEST_HANG_LIMIT_MS: "1500" } });
    await waitFor(() => idsAtD(dir).size > 100, "100 ids at D", 30_000);
    const pid = await waitFor(() => workerPid(run.proc.pid, "B", 0), "B's pid");
    process.kill(pid, "SIGSTOP");
    const frozenAt = idsAtD(dir).size;
    try {
      await waitFor(() => /dropping task B#0 .*: silent for \d+ ms/.test(run.stderr()), "the topology to drop the frozen B", 30_000);
    } finally {
      process.kill(pid, "SIGCONT"); // a stopped process would outlive the run (it cannot see its parent go)
    }
    await waitFor(() => (run.stderr().match(/task B#0 joined/g)?.length ?? 0) >= 2 && idsAtD(dir).size > frozenAt + 100, "B to come back and D to move on", 30_000);
    expect(isAlive(pid)).toBe(true);
    expect(run.stderr()).not.toContain("the event loop has been blocked");
    run.proc.kill("SIGINT");
    expect(await run.exited).toBe(0);
    const s = summaryOf(run.stdout());
    expect(s.dead).toBe(0);
  }, 90_000);

  test("an endless loop on one message: the blocked worker ends itself, the message is dead-lettered, every other one completes", async () => {
    const dir = tempProject({
      ...diamondFiles({ tasks: { A: poison("for (;;) {}"), D: D_RECORDS } }),
      "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 200\n\n[topology.y.message]\nretry = 3\n\n[topology.y.task.A]\nisolate = true\nworkers = 2\n`,
    });
    // 3 s instead of 10 before a blocked worker ends itself, to keep the test short.
    const r = await runTempest(["run", "y"], { cwd: dir, timeoutMs: 120_000, env: { TEMPEST_HANG_LIMIT_MS: "3000" } });
    // Before: both A workers spun for ever, disconnected and never restarted, and the run never ended.
    expect(r.code).toBe(0);
    expect(summaryOf(r.stdout)).toEqual({ read: 200, completed: 199, retried: 0, dead: 1 });
    expect(idsAtD(dir).size).toBe(199);
    expect(r.stderr).toMatch(/\[A#\d\] error: A#\d: the event loop has been blocked for 3\.\d s \(a handler that never yields, e\.g\. an endless loop\?\): ending this process so that it is restarted/);
    const dead = readFileSync(join(dir, "dead-letter/y.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(dead.map((x) => [x.id, x.error])).toEqual([["7", "A: its worker died or hung 2 times while it held this message and nothing else (a message that kills or hangs its worker is dead-lettered at once, not retried)"]]);
  }, 120_000);
});
