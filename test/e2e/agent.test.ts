import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import type { AgentProcessesDoc, AssignmentDoc, PlannedProcess } from "../../src/core/cluster/model.ts";
import { diamondFiles } from "../helpers/projects.ts";
import { isAlive, startTempest, type Running } from "../helpers/process.ts";
import { startRedis, stopAllRedis, type TestRedis } from "../helpers/redis.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor } from "../helpers/tempest.ts";

/**
 * `tempest agent` without a director: the test writes the assignment documents into Redis
 * itself and serves the artifacts from the build folder with a stub of the director's
 * `GET /api/v1/artifacts/:sha256`.
 */

let redis: TestRedis;
let buildDir: string;
let sha: string;
let stub: Server<unknown>;
let stubUrl: string;
const fetches: string[] = [];
const STREAM = `agent-e2e-${process.pid}:orders`;
const GROUP = "diamond";
const WRONG = "b".repeat(64);
const TOKEN = "the-right-token";

beforeAll(async () => {
  redis = await startRedis();
  const dir = tempProject(diamondFiles({
    // A line on stdout at start: what a task's log shipping must carry, whatever the timing.
    tasks: { D: `import { defineTask } from "tempest";\nconsole.log("D is loaded");\nexport default defineTask({ handle(msg) { return msg; } });\n` },
    runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "${STREAM}"\ngroup = "${GROUP}"\nblock_ms = 200\n\n[topology.y.message]\ntimeout = 5000\n`,
  }));
  const built = await runTempest(["build"], { cwd: dir, timeoutMs: 60_000 });
  expect(built.code).toBe(0);
  buildDir = join(dir, "target/build");
  const manifest = JSON.parse(readFileSync(join(buildDir, "manifest.json"), "utf8")) as { files: Record<string, { sha256: string }> };
  sha = manifest.files["demo-y-0.0.0"]!.sha256;
  // The stub director: the build's one executable under its sha256, and under WRONG too (a
  // director that serves the wrong bytes); 401 for /agents unless the bearer is TOKEN.
  stub = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/api/v1/agents") return req.headers.get("authorization") === `Bearer ${TOKEN}` ? Response.json([]) : new Response("no", { status: 401 });
      const m = /^\/api\/v1\/artifacts\/([0-9a-f]{64})$/.exec(url.pathname);
      if (!m) return new Response("not found", { status: 404 });
      fetches.push(m[1]!);
      if (m[1] === sha || m[1] === WRONG) return new Response(Bun.file(join(buildDir, "demo-y-0.0.0")));
      return new Response("no such artifact", { status: 404 });
    },
  });
  stubUrl = `http://127.0.0.1:${stub.port}`;
}, 90_000);

const agents: Array<{ run: Running; home: string }> = [];

afterEach(async () => {
  for (const a of agents.splice(0)) {
    if (a.run.proc.exitCode === null && a.run.proc.signalCode === null) {
      a.run.proc.kill("SIGTERM");
      const done = await Promise.race([a.run.exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
      if (!done) a.run.proc.kill("SIGKILL");
      await a.run.exited;
    }
    // Whatever still runs from this agent's bin/ (only after a failure): by pid.
    for (const pid of runningFrom(a.home)) process.kill(pid, "SIGKILL");
  }
});
afterAll(async () => {
  stub?.stop(true);
  await stopAllRedis();
  cleanupTempDirs();
});

function plan(over: Partial<Record<string, Partial<PlannedProcess>>> = {}, only?: string[]): PlannedProcess[] {
  const base = (id: string, kind: "topology" | "task", task?: string): PlannedProcess => ({
    id, kind, topology: "y", ...(task ? { task } : {}), instance: 0, version: "0.0.0",
    executable: task ? `demo-${task}-0.0.0` : "demo-y-0.0.0", sha256: sha, stop_timeout_ms: 5_000, ...over[id],
  });
  const all = [base("y", "topology"), ...["A", "B", "C", "D"].map((t) => base(`y.${t}.0`, "task", t))];
  return only ? all.filter((p) => only.includes(p.id)) : all;
}

interface AgentUnderTest {
  name: string;
  prefix: string;
  home: string;
  run: Running;
  assign(generation: number, processes: PlannedProcess[]): Promise<void>;
  procs(): Promise<AgentProcessesDoc | null>;
  /** Waits until exactly these ids run, each with a pid, at `generation`; returns id → pid. */
  waitRunning(ids: string[], generation: number, opts?: { timeoutMs?: number; notPids?: Iterable<number> }): Promise<Map<string, number>>;
}

function startAgent(opts: { name?: string; prefix?: string; home?: string; env?: Record<string, string> } = {}): AgentUnderTest {
  const prefix = opts.prefix ?? redis.prefix();
  const name = opts.name ?? `node-${prefix}`;
  const home = opts.home ?? tempProject({}, "tempest-agent-home-");
  const run = startTempest(["agent", "--redis", redis.url, "--director", stubUrl, "--name", name, "--home", home, "--slots", "6"], {
    env: { TEMPEST_KEY_PREFIX: prefix, TEMPEST_AGENT_TTL_MS: "3000", TEMPEST_AGENT_BEAT_MS: "300", TEMPEST_REGISTRY_TTL_MS: "2000", ...opts.env },
  });
  agents.push({ run, home });
  const procs = async () => {
    const raw = (await redis.call("GET", `${prefix}:agent-procs:${name}`)) as string | null;
    return raw ? (JSON.parse(raw) as AgentProcessesDoc) : null;
  };
  return {
    name, prefix, home, run, procs,
    async assign(generation, processes) {
      const doc: AssignmentDoc = { agent: name, generation, processes, director: "test", written_at: Date.now() };
      await redis.call("SET", `${prefix}:assign:${name}`, JSON.stringify(doc));
      await redis.call("PUBLISH", `${prefix}:assign-wake`, name);
    },
    async waitRunning(ids, generation, { timeoutMs = 30_000, notPids = [] } = {}) {
      let last: AgentProcessesDoc | null = null;
      const not = new Set(notPids);
      await waitFor(async () => {
        last = await procs();
        if (!last || last.generation !== generation) return false;
        const running = last.processes.filter((p) => p.state === "running" && p.pid !== null && !not.has(p.pid));
        return running.length === ids.length && ids.every((id) => running.some((p) => p.id === id)) && last.processes.length === ids.length;
      }, `${ids.join(", ")} to run at generation ${generation} (last report: ${JSON.stringify(last)}; agent stderr: ${run.stderr().slice(-2000)})`, timeoutMs);
      return new Map(last!.processes.map((p) => [p.id, p.pid as number]));
    },
  };
}

/** Live processes started from `<home>/bin/`, by pid (their argv0 is the absolute path). */
function runningFrom(home: string): number[] {
  const bin = join(home, "bin") + "/";
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").startsWith(bin) && isAlive(Number(e))) out.push(Number(e));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/** The process ids, one per live process from `<home>/bin/`, from each one's TEMPEST_PROCESS_ID. */
function processIdsFrom(home: string): string[] {
  return runningFrom(home).map((pid) => {
    try {
      return /(?:^|\0)TEMPEST_PROCESS_ID=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, "utf8"))?.[1] ?? "?";
    } catch {
      return "gone";
    }
  }).sort();
}

async function pending(): Promise<number> {
  return Number(((await redis.call("XPENDING", STREAM, GROUP)) as [number])[0]);
}

async function lag(): Promise<number> {
  const groups = (await redis.call("XINFO", "GROUPS", STREAM)) as unknown[][];
  for (const row of groups) {
    const g: Record<string, unknown> = {};
    for (let i = 0; i + 1 < row.length; i += 2) g[String(row[i])] = row[i + 1];
    if (g.name === GROUP) return Number(g.lag);
  }
  return NaN;
}

const ALL = ["y", "y.A.0", "y.B.0", "y.C.0", "y.D.0"];

describe("tempest agent", () => {
  test("runs its assignment from a verified artifact; entries flow; it reports and ships logs; SIGTERM leaves nothing", async () => {
    const agent = startAgent();
    fetches.length = 0;
    await agent.assign(1, plan());
    const pids = await agent.waitRunning(ALL, 1);
    for (const pid of pids.values()) expect(isAlive(pid)).toBe(true);
    expect(processIdsFrom(agent.home)).toEqual([...ALL].sort());
    // One fetch for the five processes (one build is one file), kept under its sha256 and
    // hard-linked under each executable's name.
    expect(fetches).toEqual([sha]);
    const stored = join(agent.home, "bin/.sha256", sha);
    expect(statSync(stored).mode & 0o777).toBe(0o755);
    for (const exe of ["demo-y-0.0.0", "demo-A-0.0.0", "demo-D-0.0.0"]) expect(statSync(join(agent.home, "bin", exe)).ino).toBe(statSync(stored).ino);

    const record = JSON.parse((await redis.call("GET", `${agent.prefix}:agent:${agent.name}`)) as string);
    expect(record).toMatchObject({ name: agent.name, host: "127.0.0.1", slots: 6, used: 5, version: "0.1.0", pid: agent.run.proc.pid });
    expect(Number(await redis.call("PTTL", `${agent.prefix}:agent:${agent.name}`))).toBeGreaterThan(0);

    // Every entry reaches the end of the diamond: nothing pending, nothing unread.
    await redis.xadd(STREAM, 2_000, (i) => ({ n: String(i) }));
    await waitFor(async () => (await lag()) === 0 && (await pending()) === 0, "the group to read and ack all 2,000 entries", 30_000);

    // The processes' log lines are in the topology's log stream, with who wrote them.
    const entries = await waitFor(async () => {
      const rows = (await redis.call("XRANGE", `${agent.prefix}:logs:{y}`, "-", "+")) as Array<[string, string[]]>;
      const parsed = rows.map(([, f]) => Object.fromEntries(f.flatMap((_, i) => (i % 2 ? [] : [[f[i], f[i + 1]]]))) as Record<string, string>);
      return parsed.some((e) => e.process === "y" && /listening on 127\.0\.0\.1:\d+/.test(e.line ?? "")) && parsed.some((e) => e.process === "y.D.0" && e.line === "D is loaded") ? parsed : undefined;
    }, "log lines of the topology and of D in the logs stream");
    expect(entries.find((e) => e.process === "y")).toMatchObject({ agent: agent.name, kind: "topology", task: "", instance: "0" });
    expect(entries.find((e) => e.process === "y.D.0")).toMatchObject({ agent: agent.name, kind: "task", task: "D", instance: "0", line: "D is loaded" });
    expect(Number(entries[0]!.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(existsSync(join(agent.home, "logs/y-0.log"))).toBe(true);

    agent.run.proc.kill("SIGTERM");
    expect(await agent.run.exited).toBe(0);
    for (const pid of pids.values()) expect(isAlive(pid)).toBe(false);
    expect(runningFrom(agent.home)).toEqual([]);
    expect(await redis.call("EXISTS", `${agent.prefix}:agent:${agent.name}`, `${agent.prefix}:agent-procs:${agent.name}`)).toBe(0);
  }, 90_000);

  test("generations: a higher one that drops a task stops only that task; a lower one is ignored; a wrong sha256 is refused and nothing running changes", async () => {
    const agent = startAgent();
    await agent.assign(5, plan());
    const before = await agent.waitRunning(ALL, 5);

    await agent.assign(6, plan({}, ["y", "y.A.0", "y.B.0", "y.D.0"]));
    const after = await agent.waitRunning(["y", "y.A.0", "y.B.0", "y.D.0"], 6);
    await waitFor(() => !isAlive(before.get("y.C.0")!), "C's process to end");
    for (const id of ["y", "y.A.0", "y.B.0", "y.D.0"]) expect(after.get(id)).toBe(before.get(id)!);

    // A stale director writes generation 4 with C in it: ignored, said once.
    await agent.assign(4, plan());
    await agent.run.waitForStderr(/\[agent\] warn: ignoring generation 4 < 6\n/);
    const beats = (await agent.procs())!.at;
    await waitFor(async () => (await agent.procs())!.at > beats + 600, "two more beats");
    expect((await agent.procs())!.processes.map((p) => p.id).sort()).toEqual(["y", "y.A.0", "y.B.0", "y.D.0"]);
    expect(agent.run.stderr().match(/ignoring generation 4/g)?.length).toBe(1);

    // Generation 7: A (running) and C (new) need an artifact whose bytes do not match its sha256.
    await agent.assign(7, plan({ "y.A.0": { sha256: WRONG }, "y.C.0": { sha256: WRONG } }));
    // The agent's stderr is a pipe here, so its lines start with an ISO time.
    const line = await agent.run.waitForStderr(/^(?:\S+Z )?\[agent\] error: refused artifact.*$/m);
    expect(line[0].replace(/^\S+Z /, "")).toBe(`[agent] error: refused artifact from the director at ${stubUrl}: expected sha256 ${WRONG}, got ${sha}; not running it (needed by y.A.0, y.C.0; generation 7)`);
    const refused = await waitFor(async () => {
      const d = await agent.procs();
      return d?.generation === 7 ? d : undefined;
    }, "the report of generation 7");
    expect(refused.processes.map((p) => [p.id, p.pid])).toEqual(["y", "y.A.0", "y.B.0", "y.D.0"].map((id) => [id, after.get(id)!]));
    expect(refused.problems?.map((p) => p.id)).toEqual(["y.A.0", "y.C.0"]);
    expect(existsSync(join(agent.home, "bin/.sha256", WRONG))).toBe(false);
    expect(readdirSync(join(agent.home, "bin/.sha256"))).toEqual([sha]);
    expect(agent.run.stderr().match(/refused artifact/g)?.length).toBe(1);
    expect(processIdsFrom(agent.home)).toEqual(["y", "y.A.0", "y.B.0", "y.D.0"]);
  }, 90_000);

  test("SIGKILLed and started again: exactly one process per assigned instance", async () => {
    const first = startAgent();
    await first.assign(1, plan());
    const old = await first.waitRunning(ALL, 1);
    first.run.proc.kill("SIGKILL");
    await first.run.exited;
    const second = startAgent({ name: first.name, prefix: first.prefix, home: first.home });
    // The first agent's report lives on until its TTL: wait for one without its pids.
    const fresh = await second.waitRunning(ALL, 1, { notPids: old.values() });
    await waitFor(() => [...old.values()].every((pid) => !isAlive(pid)), "the first agent's processes to be gone");
    for (const id of ALL) expect(fresh.get(id)).not.toBe(old.get(id)!);
    expect(processIdsFrom(first.home)).toEqual([...ALL].sort());
    // The artifact was kept: the second agent fetched nothing.
    expect(existsSync(join(first.home, "bin/.sha256", sha))).toBe(true);
  }, 90_000);

  test("--print-systemd-unit prints a unit for this binary and these flags", async () => {
    const r = await runTempest(["agent", "--print-systemd-unit", "--name", "n1", "--advertise", "10.0.0.5", "--slots", "4", "--director", "http://10.0.0.1:7700"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`\nExecStart=${join(import.meta.dir, "../../dist/tempest")} agent --director http://10.0.0.1:7700 --name n1 --advertise 10.0.0.5 --slots 4\n`);
    for (const l of ["Restart=always", "RestartSec=2", "KillMode=control-group", "LimitNOFILE=65536", "#Environment=TEMPEST_HOME=/var/lib/tempest", "WantedBy=multi-user.target"]) expect(r.stdout).toContain(`\n${l}\n`);
    expect(r.stdout).toMatch(/# The agent does not adopt its children after its own restart: it replaces them/);
  });

  test("bad flags and a token the director refuses: exit 2 with one line", async () => {
    const slots = await runTempest(["agent", "--slots", "0"]);
    expect([slots.code, slots.stderr]).toEqual([2, "error: --slots 0 is not a whole number above 0 — how many processes this agent may run, e.g. --slots 8\n"]);
    const home = tempProject({}, "tempest-agent-home-");
    const token = await runTempest(["agent", "--director", stubUrl, "--redis", redis.url, "--home", home], { env: { TEMPEST_TOKEN: "wrong" } });
    expect([token.code, token.stderr]).toEqual([2, `error: director at ${stubUrl} refused this agent's token (401) — set TEMPEST_TOKEN to the director's token\n`]);
  });
});

describe("tempest task --discover", () => {
  const exes = new Set<{ proc: ReturnType<typeof Bun.spawn>; err: () => string }>();
  afterEach(async () => {
    for (const e of [...exes]) {
      e.proc.kill("SIGKILL");
      await e.proc.exited;
    }
    exes.clear();
  });
  const start = (file: string, args: string[], env: Record<string, string>) => {
    const proc = Bun.spawn([join(buildDir, file), ...args], { cwd: buildDir, env: { PATH: "/usr/bin:/bin", ...env }, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    let err = "";
    void (async () => {
      const d = new TextDecoder();
      for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += d.decode(c, { stream: true });
    })();
    const e = { proc, err: () => err };
    exes.add(e);
    return e;
  };

  test("waits for its topology to register, then follows it to a new address", async () => {
    const env = { TEMPEST_REDIS_URL: redis.url, TEMPEST_KEY_PREFIX: redis.prefix(), TEMPEST_REGISTRY_TTL_MS: "1500" };
    const task = start("demo-A-0.0.0", ["--discover", "--instance", "0"], env);
    await waitFor(() => task.err().includes(`[A#0] waiting for topology \`y\` to register in Redis at 127.0.0.1:${redis.port}\n`), `the waiting line (stderr: ${task.err()})`);
    const first = start("demo-y-0.0.0", ["--port", "0"], env);
    await waitFor(() => /task A#0 joined from/.test(first.err()), "A to join the first topology", 15_000);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    // Another topology (another port: another host, as far as the task can tell); the dead
    // one's record is still alive for its TTL, and the newer one wins.
    const second = start("demo-y-0.0.0", ["--port", "0"], env);
    await waitFor(() => /task A#0 joined from/.test(second.err()), `A to join the second topology (task stderr: ${task.err()})`, 15_000);
    expect(task.err().match(/waiting for topology/g)?.length).toBe(1);
  }, 60_000);

  test("--connect and --discover together, or neither: one line, exit 2", async () => {
    const both = Bun.spawnSync([join(buildDir, "demo-A-0.0.0"), "--discover", "--connect", "127.0.0.1:1"], { stderr: "pipe" });
    expect([both.exitCode, both.stderr.toString()]).toEqual([2, "error: demo-A-0.0.0: give either --connect or --discover, not both — --connect HOST:PORT for a fixed address, --discover to find it in Redis\n"]);
    const neither = await runTempest(["task", "y", "A"]);
    expect([neither.code, neither.stderr]).toEqual([2, "error: tempest task needs --connect HOST:PORT or --discover — --connect HOST:PORT for a fixed address, --discover to find the topology in Redis (TEMPEST_REDIS_URL)\n"]);
  });
});
