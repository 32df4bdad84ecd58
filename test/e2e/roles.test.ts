import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { controlRequest } from "../../src/roles/topology/control-client.ts";
import { diamondFiles } from "../helpers/projects.ts";
import { startTempest, stopAll } from "../helpers/process.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor, tasksJoined } from "../helpers/tempest.ts";

afterEach(stopAll);
afterAll(cleanupTempDirs);

const endless = () => tempProject({ ...diamondFiles(), "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = 0\nrate = 500\n` });

describe("the topology and task roles, started by hand", () => {
  test("stats over a control connection, then a shutdown request: exit 0", async () => {
    const dir = endless();
    const topo = startTempest(["topology", "y", "--port", "0"], { cwd: dir });
    const port = Number((await topo.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    // Each `tempest task y <X>` is a worker hosting A, B, C and D (one fused worker): four sessions.
    for (const t of ["A", "B", "C", "D"]) startTempest(["task", "y", t, "--connect", `127.0.0.1:${port}`, "--instance", "1"], { cwd: dir });
    const stats = await waitFor(async () => {
      const s = await controlRequest("127.0.0.1", port, "stats_request");
      return s && s.completed > 20 && s.sessions === 4 ? s : undefined;
    }, "20 messages to complete with all four workers joined");
    expect(stats.topology).toBe("y");
    expect(stats.source).toBe("generator");
    expect(stats.sessions).toBe(4);
    expect(Object.keys(stats.tasks).sort()).toEqual(["A", "B", "C", "D"]);
    expect(stats.tasks.A?.handled).toBeGreaterThan(20);
    await controlRequest("127.0.0.1", port, "shutdown_request");
    expect(await topo.exited).toBe(0);
    expect(topo.stderr()).toMatch(/stopping \(shutdown requested from 127\.0\.0\.1:\d+\)/);
    expect(topo.stderr()).toMatch(/y: read (\d+), completed \1, retried 0, dead-lettered 0/);
  });

  test("a task reconnects when its topology comes back on the same port", async () => {
    const dir = endless();
    const first = startTempest(["topology", "y", "--port", "0"], { cwd: dir });
    const port = Number((await first.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const tasks = ["A", "B", "C", "D"].map((t) => startTempest(["task", "y", t, "--connect", `127.0.0.1:${port}`], { cwd: dir }));
    await waitFor(() => ["A", "B", "C", "D"].every((t) => new RegExp(`task ${t}#\\d+ joined`).test(first.stderr())), "all four tasks to join");
    first.proc.kill("SIGKILL");
    await first.exited;
    // Deadlines sized for a loaded 2-core machine: each wait is for exactly what is asserted next.
    await waitFor(() => tasks.every((t) => /lost the connection to the topology at 127\.0\.0\.1:\d+ \([^)]+\); reconnecting/.test(t.stderr())), "every task to notice the topology is gone", 30_000).catch((e) => {
      // It failed once under two CPU hogs (1 run in 3): show what each task said, to find out why.
      for (const t of tasks) console.error(`--- task stderr:\n${t.stderr()}`);
      throw e;
    });
    const second = startTempest(["topology", "y", "--port", String(port)], { cwd: dir });
    await second.waitForStderr(/listening on/, 30_000);
    // Reconnects back off up to 5 s each: wait for every task's reconnect, then for messages.
    await waitFor(() => tasks.every((t) => /connected to the topology after \d+ ms/.test(t.stderr())), "every task to reconnect", 30_000);
    await waitFor(async () => ((await controlRequest("127.0.0.1", port, "stats_request"))?.completed ?? 0) > 10, "messages to flow again", 30_000);
    // The outage is logged once per task, not once per attempt.
    for (const t of tasks) expect(t.stderr().match(/lost the connection|is not reachable/g)?.length).toBe(1);
    second.proc.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    for (const t of tasks) expect(await t.exited).toBe(0);
  });

  test("SIGTERM to a task mid-stream: it finishes what it holds and leaves; another takes over", async () => {
    const dir = endless();
    const topo = startTempest(["topology", "y", "--port", "0"], { cwd: dir });
    const port = Number((await topo.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const a1 = startTempest(["task", "y", "A", "--connect", `127.0.0.1:${port}`, "--instance", "1"], { cwd: dir });
    for (const t of ["A", "B", "C", "D"]) startTempest(["task", "y", t, "--connect", `127.0.0.1:${port}`, "--instance", "2"], { cwd: dir });
    await topo.waitForStderr(/task A#1 joined/);
    a1.proc.kill("SIGTERM");
    expect(await a1.exited).toBe(0);
    await topo.waitForStderr(/task A#1 left/);
    const before = (await controlRequest("127.0.0.1", port, "stats_request"))?.completed ?? 0;
    await waitFor(async () => ((await controlRequest("127.0.0.1", port, "stats_request"))?.completed ?? 0) > before + 20, "work to go on with A#2 alone");
    topo.proc.kill("SIGTERM");
    expect(await topo.exited).toBe(0);
    expect(topo.stderr()).toMatch(/retried 0, dead-lettered 0/);
  });

  test("bad role arguments are one clear line with exit 2", async () => {
    const dir = endless();
    const bad = await runTempest(["task", "y", "E", "--connect", "127.0.0.1:1"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: topology `y` has no task `E` — its tasks: A, B, C, D\n");
    const addr = await runTempest(["task", "y", "A", "--connect", "localhost"], { cwd: dir });
    expect(addr.code).toBe(2);
    expect(addr.stderr).toBe("error: --connect localhost is not HOST:PORT — e.g. --connect 127.0.0.1:7070\n");
    const port = await runTempest(["topology", "y", "--port", "99999"], { cwd: dir });
    expect(port.code).toBe(2);
    expect(port.stderr).toBe("error: --port 99999 is not a port — give a number from 0 to 65535 (0 picks a free port)\n");
  });
});

describe("the examples in the README", () => {
  test("wordcount runs and prints the top words", async () => {
    const r = await runTempest(["run", "wordcount", "--project", `${import.meta.dir}/../../examples/wordcount`]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("[count#0] top words: the 10, i 9, and 7");
    expect(r.stdout).toContain("wordcount: read 16, completed 16, retried 0, dead-lettered 0");
  });

  test("diamond runs with its join", async () => {
    const r = await runTempest(["run", "diamond", "--project", `${import.meta.dir}/../../examples/diamond`]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("[D#0] 1000 orders joined");
    expect(r.stdout).toContain("diamond: read 1000, completed 1000, retried 0, dead-lettered 0");
  });
});

describe("TEMPEST_TOKEN (DESIGN.md §11)", () => {
  test("with a token, peers that know it work; a task with the wrong token is refused and says why, once", async () => {
    const dir = endless();
    const token = { TEMPEST_TOKEN: "s3cret-token" };
    const topo = startTempest(["topology", "y", "--port", "0"], { cwd: dir, env: token });
    const port = Number((await topo.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    for (const t of ["A", "B", "C", "D"]) startTempest(["task", "y", t, "--connect", `127.0.0.1:${port}`], { cwd: dir, env: token });
    const intruder = startTempest(["task", "y", "A", "--connect", `127.0.0.1:${port}`, "--instance", "x"], { cwd: dir, env: { TEMPEST_TOKEN: "wrong" } });
    await waitFor(async () => {
      const st = await controlRequest("127.0.0.1", port, "stats_request", 5_000, token.TEMPEST_TOKEN);
      return (st?.completed ?? 0) > 10 && st?.sessions === 4;
    }, "messages to flow with the four workers that know the token");
    await intruder.waitForStderr(/the topology refused this task: authentication failed.*\(is TEMPEST_TOKEN the same as the topology's\?\); retrying/).catch((e) => { console.error("INTRUDER", intruder.stderr(), "TOPO", topo.stderr()); throw e; });
    expect(topo.stderr()).toMatch(/closing connection from 127\.0\.0\.1:\d+: authentication failed/);
    expect(topo.stderr()).not.toContain("s3cret-token");
    await expect(controlRequest("127.0.0.1", port, "stats_request", 5_000, "")).rejects.toThrow("authentication failed");
    const stats = await controlRequest("127.0.0.1", port, "stats_request", 5_000, token.TEMPEST_TOKEN);
    expect(stats?.sessions).toBe(4);
    expect(intruder.stderr().match(/refused/g)?.length).toBe(1);
    topo.proc.kill("SIGTERM");
    expect(await topo.exited).toBe(0);
  });

  test("listening beyond loopback needs a token", async () => {
    const dir = endless();
    const r = await runTempest(["topology", "y", "--host", "0.0.0.0", "--port", "0"], { cwd: dir, env: { TEMPEST_TOKEN: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: topology `y` will not listen on 0.0.0.0 without TEMPEST_TOKEN: anyone who can connect would get its messages — set the same TEMPEST_TOKEN in the environment of the topology and every task, or listen on 127.0.0.1\n");
    const ok = startTempest(["topology", "y", "--host", "0.0.0.0", "--port", "0"], { cwd: dir, env: { TEMPEST_TOKEN: "t" } });
    await ok.waitForStderr(/listening on 0\.0\.0\.0:\d+/);
    ok.proc.kill("SIGTERM");
    expect(await ok.exited).toBe(0);
  });
});

/** A port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("a task started by tempest run belongs to that run's topology", () => {
  // TEMPEST_PARENT_PID is how a child knows `tempest run` started it; here the test is the parent.
  const asRunChild = { TEMPEST_PARENT_PID: String(process.pid), TEMPEST_TASK_GIVE_UP_MS: "1500" };

  test("with nothing to connect to it gives up with one clear line after a bounded time, exit 1", async () => {
    const dir = endless();
    const port = await closedPort();
    const task = startTempest(["task", "y", "A", "--connect", `127.0.0.1:${port}`, "--instance", "0"], { cwd: dir, env: asRunChild });
    const code = await Promise.race([task.exited, Bun.sleep(20_000).then(() => "still running after 20 s")]);
    expect(code).toBe(1);
    expect(task.stderr().trimEnd().split("\n").at(-1)).toBe(`error: no topology answered at 127.0.0.1:${port} for 1.5 s: giving up (this task was started by tempest run, whose topology is gone)`);
  }, 30_000);

  test("its topology replaced by another on the same port: it leaves instead of joining the other", async () => {
    const dir = endless();
    const first = startTempest(["topology", "y", "--port", "0"], { cwd: dir });
    const port = Number((await first.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    // Give-up time long enough that only the instance check can end it.
    const task = startTempest(["task", "y", "A", "--connect", `127.0.0.1:${port}`, "--instance", "0"], { cwd: dir, env: { ...asRunChild, TEMPEST_TASK_GIVE_UP_MS: "600000" } });
    await waitFor(() => tasksJoined(first.stderr(), ["A"]), "A to join");
    first.proc.kill("SIGKILL");
    await first.exited;
    const second = startTempest(["topology", "y", "--port", String(port)], { cwd: dir });
    await second.waitForStderr(/listening on/, 30_000);
    const code = await Promise.race([task.exited, Bun.sleep(30_000).then(() => "still running after 30 s")]);
    expect(code).toBe(1);
    expect(task.stderr().trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^error: the topology at 127\\.0\\.0\\.1:${port} is another run's \\(this is instance [0-9a-f]+ of topology \`y\`, not [0-9a-f]+, the one the task belongs to\\): leaving$`));
    expect(second.stderr()).not.toMatch(/task A#0 joined/);
    second.proc.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 60_000);
});
