import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diamondFiles } from "../helpers/projects.ts";
import { startTempest, stopAll, type Running } from "../helpers/process.ts";
import { freePort, startRedis, stopAllRedis, type TestRedis } from "../helpers/redis.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor } from "../helpers/tempest.ts";

/**
 * The director on the compiled binary, without agents: agents are simulated by writing their
 * records into Redis the way `tempest agent` does, so the API, the scheduler's documents, the
 * lease and every CLI error are tested on their own. test/e2e/cluster.test.ts runs real agents.
 */
afterEach(stopAll);
afterAll(async () => {
  await stopAllRedis();
  cleanupTempDirs();
});

let redis: TestRedis;
let project: string;
beforeAll(async () => {
  redis = await startRedis();
  project = tempProject(diamondFiles({ runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "orders"\ngroup = "g"\n[topology.y.message]\ntimeout = 4000\n[topology.y.task.B]\nworkers = 2\n` + ["A", "C", "D"].map((t) => `[topology.y.task.${t}]\nisolate = true\n`).join("") }));
  // Every task in processes of its own (isolate), so the plan has one process per task instance to place.
  // Build once without the type check (slow on a loaded machine); deploy then finds it fresh.
  const built = await runTempest(["build", "--project", project, "--no-typecheck"], { timeoutMs: 120_000 });
  expect(built.code).toBe(0);
}, 150_000);

interface Director {
  run: Running;
  url: string;
  prefix: string;
  env: Record<string, string>;
}

async function startDirector(opts: { prefix?: string; token?: string; home?: string } = {}): Promise<Director> {
  const prefix = opts.prefix ?? redis.prefix();
  const port = await freePort();
  const home = opts.home ?? tempProject({}, "tempest-director-");
  const env: Record<string, string> = { TEMPEST_KEY_PREFIX: prefix, TEMPEST_DIRECTOR_TICK_MS: "100", TEMPEST_DIRECTOR_LEASE_MS: "1500", ...(opts.token ? { TEMPEST_TOKEN: opts.token } : {}) };
  const run = startTempest(["director", "--listen", `127.0.0.1:${port}`, "--redis", redis.url, "--home", home], { env });
  await run.waitForStderr(/listening on http:\/\/127\.0\.0\.1:\d+/);
  return { run, url: `http://127.0.0.1:${port}`, prefix, env };
}

function cli(d: Director, args: string[], env: Record<string, string> = {}) {
  return runTempest([...args, "--director", d.url], { env: { ...d.env, ...env }, timeoutMs: 120_000 });
}

/** An agent as the director sees it: a record with a TTL, refreshed here instead of by `tempest agent`. */
async function fakeAgent(prefix: string, name: string, slots: number, ttlMs = 60_000): Promise<void> {
  const now = Date.now();
  await redis.call("SET", `${prefix}:agent:${name}`, JSON.stringify({ name, host: "127.0.0.1", slots, used: 0, version: "0.1.0", pid: 1, started_at: now, heartbeat_at: now }), "PX", ttlMs);
}

async function assignment(prefix: string, agent: string): Promise<{ generation: number; processes: Array<{ id: string }> } | null> {
  const raw = (await redis.call("GET", `${prefix}:assign:${agent}`)) as string | null;
  return raw ? JSON.parse(raw) : null;
}

async function statusJson(d: Director): Promise<{ agents: Array<{ name: string; alive: boolean; slots: number; used: number }>; topologies: Array<{ name: string; version: string; status: string; reason: string | null; processes: Array<{ kind: string; task: string | null; instance: number; agent: string; state: string }> }> }> {
  const r = await cli(d, ["status", "--json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe("tempest director", () => {
  test("deploy uploads once, is idempotent, and the topology starts stopped", async () => {
    const d = await startDirector();
    const first = await cli(d, ["deploy", "--project", project]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^deployed y 0\.0\.0 to http:\/\/127\.0\.0\.1:\d+ — artifact [0-9a-f]{12}, \d+\.\d MiB uploaded$/m);
    expect(first.stderr).toMatch(/uploading demo-y-0\.0\.0 \[#+\] 100%/);
    expect(first.stdout).toContain("start with: tempest start y");
    const again = await cli(d, ["deploy", "--project", project]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/deployed y 0\.0\.0 to .* \(already there\) — artifact [0-9a-f]{12}, nothing to upload/);
    const s = await statusJson(d);
    expect(s.topologies.map((t) => [t.name, t.version, t.status])).toEqual([["y", "0.0.0", "stopped"]]);
  }, 120_000);

  test("a new version of a running topology: deploy says to reload it, not to start it", async () => {
    const d = await startDirector();
    expect((await cli(d, ["deploy", "--project", project])).code).toBe(0);
    await fakeAgent(d.prefix, "a1", 8);
    expect((await cli(d, ["start", "y", "--no-wait"])).code).toBe(0);
    const next = tempProject({ ...diamondFiles({ runtime: readFileSync(join(project, "Runtime.toml"), "utf8") }) });
    writeFileSync(join(next, "projects/main.toml"), readFileSync(join(next, "projects/main.toml"), "utf8").replace('name = "demo"', 'name = "demo"\nversion = "0.0.1"'));
    expect((await runTempest(["build", "--project", next, "--no-typecheck"], { timeoutMs: 120_000 })).code).toBe(0);
    const r = await cli(d, ["deploy", "--project", next]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`y keeps running its current version; switch to 0.0.1 with: tempest reload y --director ${d.url}`);
    expect(r.stdout).not.toContain("start with");
  }, 150_000);

  test("start places every process within the slots, spread over agents; stop empties the assignments", async () => {
    const d = await startDirector();
    expect((await cli(d, ["deploy", "--project", project])).code).toBe(0);
    await fakeAgent(d.prefix, "a1", 4);
    await fakeAgent(d.prefix, "a2", 4);
    const started = await cli(d, ["start", "y", "--no-wait"]);
    expect(started.code).toBe(0);
    const docs = await waitFor(async () => {
      const [a, b] = [await assignment(d.prefix, "a1"), await assignment(d.prefix, "a2")];
      return a && b && a.processes.length + b.processes.length === 6 ? [a, b] : null;
    }, "assignments for both agents", 15_000);
    const ids = docs.flatMap((x) => x.processes.map((p) => p.id)).sort();
    expect(ids).toEqual(["y@0.0.0", "y@0.0.0.A.0", "y@0.0.0.B.0", "y@0.0.0.B.1", "y@0.0.0.C.0", "y@0.0.0.D.0"]);
    expect(docs.every((x) => x.processes.length <= 4)).toBe(true);
    // The two B instances are on different agents.
    expect(docs.filter((x) => x.processes.some((p) => p.id.startsWith("y@0.0.0.B."))).length).toBe(2);
    const s = await statusJson(d);
    expect(s.agents.map((a) => [a.name, a.alive, a.slots, a.used])).toEqual([["a1", true, 4, 3], ["a2", true, 4, 3]]);
    expect(s.topologies[0]!.status).toBe("pending"); // no real agent runs them
    expect(s.topologies[0]!.processes.map((p) => p.state)).toEqual(Array(6).fill("assigned"));

    const gen = Math.max(docs[0]!.generation, docs[1]!.generation);
    const stopped = await cli(d, ["stop", "y"]);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout.trim()).toBe("y 0.0.0: stopped");
    const after = [await assignment(d.prefix, "a1"), await assignment(d.prefix, "a2")];
    expect(after.map((x) => x?.processes.length)).toEqual([0, 0]);
    expect(after.every((x) => (x?.generation ?? 0) > gen)).toBe(true);
  }, 120_000);

  test("a fused topology is placed as one process per worker instance: A, C and D share one, B (workers = 2) has its own", async () => {
    const fused = tempProject(diamondFiles({ runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "orders"\ngroup = "g"\n[topology.y.task.B]\nworkers = 2\n` }));
    expect((await runTempest(["build", "--project", fused, "--no-typecheck"], { timeoutMs: 120_000 })).code).toBe(0);
    const d = await startDirector();
    expect((await cli(d, ["deploy", "--project", fused])).code).toBe(0);
    await fakeAgent(d.prefix, "a1", 8);
    expect((await cli(d, ["start", "y", "--no-wait"])).code).toBe(0);
    const doc = await waitFor(async () => ((await assignment(d.prefix, "a1"))?.processes.length === 4 ? assignment(d.prefix, "a1") : null), "a1 to get the four processes", 15_000);
    expect(doc!.processes.map((p) => p.id).sort()).toEqual(["y@0.0.0", "y@0.0.0.A.0", "y@0.0.0.B.0", "y@0.0.0.B.1"]);
    // Scaling C scales the worker that hosts it (A's processes), and the last scale of any of its tasks wins.
    const up = await cli(d, ["scale", "y", "C=2", "--no-wait"]);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain("y C: 2 instances (one worker hosts A, C, D: they scale together)");
    await waitFor(async () => (await assignment(d.prefix, "a1"))?.processes.some((p) => p.id === "y@0.0.0.A.1"), "a second A process", 15_000);
    // Before: the count of each task was kept apart and the worker took the largest, so D=1 left two.
    expect((await cli(d, ["scale", "y", "D=1", "--no-wait"])).code).toBe(0);
    await waitFor(async () => (await assignment(d.prefix, "a1"))?.processes.length === 4, "back to one A process", 15_000);
    const workers = (JSON.parse((await cli(d, ["status", "--json"])).stdout) as { topologies: Array<{ workers: Record<string, number> }> }).topologies[0]!.workers;
    expect(workers).toEqual({ A: 1, B: 2, C: 1, D: 1 });
  }, 150_000);

  test("SIGTERM while Redis is down: the director exits at once, saying it did not release its lease", async () => {
    const own = await startRedis();
    const port = await freePort();
    const run = startTempest(["director", "--listen", `127.0.0.1:${port}`, "--redis", own.url, "--home", tempProject({}, "tempest-director-")], { env: { TEMPEST_KEY_PREFIX: own.prefix(), TEMPEST_DIRECTOR_TICK_MS: "100", TEMPEST_DIRECTOR_LEASE_MS: "1500" } });
    await run.waitForStderr(/listening on http:\/\/127\.0\.0\.1:\d+/);
    await own.stop();
    const t0 = Date.now();
    run.proc.kill("SIGTERM");
    const code = await run.exited;
    // Before: it waited for Redis to come back (over 20 s).
    expect(Date.now() - t0).toBeLessThan(6_000);
    expect(code).toBe(0);
    expect(run.stderr()).toMatch(/stopping without releasing the scheduler lease: Redis did not answer within 2 s/);
  }, 60_000);

  test("an agent whose heartbeat expires loses its processes to the others", async () => {
    const d = await startDirector();
    expect((await cli(d, ["deploy", "--project", project])).code).toBe(0);
    await fakeAgent(d.prefix, "a1", 8, 1_500);
    await fakeAgent(d.prefix, "a2", 8);
    expect((await cli(d, ["start", "y", "--no-wait"])).code).toBe(0);
    await waitFor(async () => ((await assignment(d.prefix, "a1"))?.processes.length ?? 0) > 0, "a1 to get processes", 15_000);
    // a1 stops beating: within its TTL plus a tick everything is on a2.
    const moved = await waitFor(async () => ((await assignment(d.prefix, "a2"))?.processes.length === 6 ? await assignment(d.prefix, "a1") : null), "all processes on a2", 15_000);
    expect(moved.processes).toEqual([]);
    const s = await statusJson(d);
    expect(s.agents.find((a) => a.name === "a1")).toMatchObject({ alive: false, slots: 8 });
    expect(d.run.stderr()).toMatch(/generation \d+: a2 runs .*\(from a1, lost\)/);
  }, 120_000);

  test("a topology that needs more slots than the cluster has is pending with the reason", async () => {
    const d = await startDirector();
    expect((await cli(d, ["deploy", "--project", project])).code).toBe(0);
    await fakeAgent(d.prefix, "small", 3);
    const r = await cli(d, ["start", "y"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("error: y 0.0.0 is pending: needs 5 slots, 3 free on 1 live agent — add agents or slots (--slots), or lower workers — it starts by itself when there is room; `tempest stop y` cancels");
    const s = await statusJson(d);
    expect(s.topologies[0]).toMatchObject({ status: "pending", reason: "needs 5 slots, 3 free on 1 live agent — add agents or slots (--slots), or lower workers" });
    expect((await assignment(d.prefix, "small"))?.processes ?? []).toEqual([]);
  }, 120_000);

  test("a second director takes over scheduling when the first is killed; state survives a restart", async () => {
    const prefix = redis.prefix();
    const home = tempProject({}, "tempest-director-");
    const first = await startDirector({ prefix, home });
    const second = await startDirector({ prefix });
    expect((await cli(first, ["deploy", "--project", project])).code).toBe(0);
    await fakeAgent(prefix, "a1", 8);
    expect((await cli(first, ["start", "y", "--no-wait"])).code).toBe(0);
    await waitFor(async () => (await assignment(prefix, "a1"))?.processes.length === 6, "a1 to get all processes", 15_000);
    const leader = (await redis.call("GET", `${prefix}:director:leader`)) as string;
    expect(first.run.stderr()).toContain(`holding the scheduler lease (${leader})`);

    first.run.proc.kill("SIGKILL");
    await first.run.exited;
    const killedAt = Date.now();
    // The second one takes the lease when it expires and schedules a new agent's arrival.
    await second.run.waitForStderr(/holding the scheduler lease/, 15_000);
    const takeover = Date.now() - killedAt;
    await fakeAgent(prefix, "a2", 8);
    await redis.call("SET", `${prefix}:agent:a1`, "x", "PX", 1); // a1 gone: its processes must move to a2
    await waitFor(async () => (await assignment(prefix, "a2"))?.processes.length === 6, "a2 to get a1's processes from the second director", 15_000);
    console.log(`director takeover after SIGKILL of the leader: ${takeover} ms (lease 1500 ms)`);

    // A restarted director (same Redis, same home) shows the same cluster.
    const before = await statusJson(second);
    const restarted = await startDirector({ prefix, home });
    const after = await statusJson(restarted);
    expect(after.topologies).toEqual(before.topologies);
    expect(after.agents.map((a) => a.name)).toEqual(before.agents.map((a) => a.name));
  }, 120_000);

  test("a stale director cannot write assignments: the write is fenced by the lease", async () => {
    const { ClusterStore } = await import("../../src/roles/director/store.ts");
    const { createKeys } = await import("../../src/core/registry/keys.ts");
    const prefix = redis.prefix();
    const keys = createKeys(prefix);
    const store = new ClusterStore(redis.client(), keys);
    await redis.call("SET", keys.leader(), "director-b", "PX", 10_000);
    const refused = await store.writeAssignments("director-a", { a1: [] }, { at: 1, director: "director-a", placements: {}, pending: [] });
    expect(refused).toBeNull();
    expect(await redis.call("GET", keys.assignment("a1"))).toBeNull();
    const written = await store.writeAssignments("director-b", { a1: [] }, { at: 1, director: "director-b", placements: {}, pending: [] });
    expect(written).toBe(1);
    expect(JSON.parse((await redis.call("GET", keys.assignment("a1"))) as string)).toMatchObject({ generation: 1, agent: "a1", processes: [] });
  });
});

describe("director errors, each one line", () => {
  test("start of a topology that was never deployed: 404 with a did-you-mean, exit 2", async () => {
    const d = await startDirector();
    expect((await cli(d, ["deploy", "--project", project])).code).toBe(0);
    const r = await cli(d, ["start", "yy"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("error: no topology `yy` is deployed — did you mean `y`?");
    const res = await fetch(`${d.url}/api/v1/topologies/yy/start`, { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: "E_NOT_FOUND", message: "no topology `yy` is deployed", hint: "did you mean `y`?" } });
    const logs = await cli(d, ["logs", "yy"]);
    expect([logs.code, logs.stderr.trim()]).toEqual([2, "error: no topology `yy` is deployed — did you mean `y`?"]);
    const task = await cli(d, ["logs", "y", "BB#1"]);
    expect([task.code, task.stderr.trim()]).toEqual([2, "error: topology `y` has no task `BB` — did you mean `B`?"]);
    const empty = await cli(d, ["logs", "y", "B", "-n", "5"]);
    expect([empty.code, empty.stdout]).toEqual([0, ""]);
  }, 120_000);

  test("the director unreachable from the CLI: exit 1", async () => {
    const port = await freePort();
    for (const cmd of [["status"], ["start", "y"], ["stop", "y"], ["logs", "y"]]) {
      const r = await runTempest([...cmd, "--director", `http://127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`error: the director at http://127.0.0.1:${port} is not reachable (ECONNREFUSED) — start \`tempest director\` there, or point --director at it`);
    }
  });

  test("with TEMPEST_TOKEN every API call needs the bearer: 401 JSON, and the CLI says so", async () => {
    const d = await startDirector({ token: "s3cret" });
    const bare = await fetch(`${d.url}/api/v1/agents`);
    expect(bare.status).toBe(401);
    expect(await bare.json()).toEqual({ error: { code: "E_UNAUTHORIZED", message: "this director needs a token", hint: "set TEMPEST_TOKEN to the director's token (sent as Authorization: Bearer)" } });
    const wrong = await cli(d, ["status"], { TEMPEST_TOKEN: "nope" });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim()).toBe(`error: the director at ${d.url} refused the request (401: the bearer token is wrong) — TEMPEST_TOKEN differs from the director's`);
    const ok = await cli(d, ["status", "--json"]);
    expect(ok.code).toBe(0);
    expect(d.run.stderr()).not.toContain("s3cret");
  });

  test("a non-loopback listen without a token is refused; a port in use is one line", async () => {
    const wide = await runTempest(["director", "--listen", "0.0.0.0:0", "--redis", redis.url], { env: { TEMPEST_TOKEN: "" } });
    expect(wide.code).toBe(2);
    expect(wide.stderr.trim()).toBe("error: refusing to listen on 0.0.0.0 without a token: anyone who reaches it could deploy and run code — set TEMPEST_TOKEN (the same on every agent and CLI), or listen on 127.0.0.1");
    const d = await startDirector();
    const port = new URL(d.url).port;
    const busy = await runTempest(["director", "--listen", `127.0.0.1:${port}`, "--redis", redis.url, "--home", tempProject({})]);
    expect(busy.code).toBe(1);
    expect(busy.stderr.trim()).toBe(`error: 127.0.0.1:${port} is already in use — stop what listens there, or pick another --listen HOST:PORT`);
    const noRedis = await runTempest(["director", "--listen", "127.0.0.1:0", "--redis", `redis://127.0.0.1:${await freePort()}`, "--home", tempProject({})]);
    expect(noRedis.code).toBe(1);
    expect(noRedis.stderr.trim()).toMatch(/^error: Redis at 127\.0\.0\.1:\d+ is not reachable \(ECONNREFUSED\) — start redis-server there, or fix the address in --redis$/);
  });

  test("an upload whose sha256 does not match is refused and nothing is stored", async () => {
    const home = tempProject({}, "tempest-director-");
    const d = await startDirector({ home });
    const claimed = "a".repeat(64);
    const res = await fetch(`${d.url}/api/v1/artifacts/${claimed}`, { method: "PUT", body: "not the right bytes" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("E_ARTIFACT_MISMATCH");
    expect(body.error.message).toMatch(/^the upload for artifact aaaaaaaaaaaa… hashes to [0-9a-f]{12}… \(19 bytes\); refused$/);
    expect((await fetch(`${d.url}/api/v1/artifacts/${claimed}`, { method: "HEAD" })).status).toBe(404);
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(join(home, "artifacts"))).toEqual([]);
  });

  test("a deploy of a project that fails `check` exits 2 with the problem, and deploys nothing", async () => {
    const d = await startDirector();
    const broken = tempProject(diamondFiles({ runtime: `[topology.y.message]\ntimout = 5\n` }));
    const r = await cli(d, ["deploy", "--project", broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Runtime\.toml:2:1: .*timout.*did you mean `timeout`/);
    const s = await statusJson(d);
    expect(s.topologies).toEqual([]);
  });
});
