import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { diamondFiles, idsAtD } from "../helpers/projects.ts";
import { childPids, isAlive, startTempest, stopAll, type Running } from "../helpers/process.ts";
import { startRedis, stopAllRedis, type TestRedis } from "../helpers/redis.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor, tasksJoined } from "../helpers/tempest.ts";

afterEach(stopAll);
afterAll(async () => {
  await stopAllRedis();
  cleanupTempDirs();
});

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});

const N = 20_000;
const D_RECORDS = `import { defineTask } from "tempest";
import { appendFileSync, mkdirSync } from "node:fs";
mkdirSync("out", { recursive: true });
export default defineTask({ handle(msg, ctx) { appendFileSync("out/d.txt", ctx.msgId + " " + ctx.attempt + "\\n"); } });
`;

interface StreamProject {
  dir: string;
  key: string;
  group: string;
  env: Record<string, string>;
}

function streamProject(server: TestRedis, opts: { source?: string; runtime?: string; tasks?: Record<string, string>; join?: "all" } = {}): StreamProject {
  const prefix = server.prefix();
  const key = `${prefix}:orders`;
  const group = "diamond";
  const dir = tempProject(diamondFiles({
    join: opts.join ?? "all",
    tasks: { D: D_RECORDS, ...opts.tasks },
    runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${server.url}"\nkey = "${key}"\ngroup = "${group}"\n${opts.source ?? ""}\n[topology.y.message]\ntimeout = 10000\n${opts.runtime ?? ""}`,
  }));
  return { dir, key, group, env: { TEMPEST_KEY_PREFIX: prefix } };
}

/** The attempt D saw for each delivery (lines "id attempt"). */
function attempts(dir: string): number[] {
  return readFileSync(join(dir, "out/d.txt"), "utf8").split("\n").filter(Boolean).map((l) => Number(l.split(" ")[1]));
}

async function pendingCount(server: TestRedis, key: string, group: string): Promise<number> {
  const summary = (await server.call("XPENDING", key, group)) as [number, ...unknown[]];
  return Number(summary[0]);
}

async function groupLag(server: TestRedis, key: string, group: string): Promise<number> {
  const groups = (await server.call("XINFO", "GROUPS", key)) as unknown[][];
  const g = groups.map((row) => Object.fromEntries(chunk(row))).find((x) => x.name === group);
  return Number(g?.lag);
}

function chunk(row: unknown[]): Array<[unknown, unknown]> {
  const out: Array<[unknown, unknown]> = [];
  for (let i = 0; i + 1 < row.length; i += 2) out.push([row[i], row[i + 1]]);
  return out;
}

async function expectAllDone(server: TestRedis, p: StreamProject, ids: string[], timeoutMs = 30_000): Promise<Map<string, number>> {
  const counts = await waitFor(() => {
    const c = idsAtD(p.dir);
    return ids.every((id) => c.has(id)) ? c : undefined;
  }, `all ${ids.length} ids to reach D`, timeoutMs);
  await waitFor(async () => (await pendingCount(server, p.key, p.group)) === 0, "XPENDING to reach 0", timeoutMs);
  expect(await groupLag(server, p.key, p.group)).toBe(0);
  return counts;
}

function topologyChild(run: Running): number {
  return childPids(run.proc.pid).find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("\0topology\0")) ?? 0;
}

describe("redis-stream source", () => {
  test("20,000 entries through the diamond: every id reaches D, nothing pending, lag 0; SIGTERM exits 0", async () => {
    const p = streamProject(redis);
    const ids = await redis.xadd(p.key, N, (i) => ({ n: String(i) }));
    const run = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
    const counts = await expectAllDone(redis, p, ids);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain(`y: read ${N}, completed ${N}, retried 0, dead-lettered 0`);
  });

  test("the topology SIGKILLed mid-run, then run again: every id processed, nothing left pending", async () => {
    const p = streamProject(redis, { tasks: { B: `import { defineTask } from "tempest";\nexport default defineTask({ async handle(m) { await Bun.sleep(1); return m; } });\n` } });
    const ids = await redis.xadd(p.key, N, (i) => ({ n: String(i) }));
    const first = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
    await waitFor(() => idsAtD(p.dir).size > 3000, "3,000 ids to reach D", 30_000);
    process.kill(await waitFor(() => topologyChild(first), "the topology process"), "SIGKILL");
    expect(await first.exited).toBe(1);
    expect(first.stderr()).toContain("error: the topology was killed by SIGKILL");
    expect(await pendingCount(redis, p.key, p.group)).toBeGreaterThan(0);
    const second = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
    const counts = await expectAllDone(redis, p, ids, 60_000);
    const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
    const redelivered = attempts(p.dir).filter((a) => a >= 2).length;
    console.log(`topology SIGKILLed mid-run: ${ids.length} ids processed after a restart, ${duplicates} processed twice, ${redelivered} seen with attempt >= 2`);
    // The entries the dead run held come back with their delivery count as the attempt.
    expect(redelivered).toBeGreaterThan(0);
    second.proc.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 90_000);

  test("two consumers in one group, one SIGKILLed for good: the survivor claims its entries within claim_idle_ms + 5 s", async () => {
    // A slow root task, one call at a time, so the victim surely holds pending entries.
    const slow = `import { defineTask } from "tempest";\nexport default defineTask({ async handle(m) { await Bun.sleep(4); return m; } });\n`;
    const p = streamProject(redis, { source: "claim_idle_ms = 2000\n", runtime: "\n[topology.y.task.A]\nconcurrency = 1\n", tasks: { A: slow } });
    const ids = await redis.xadd(p.key, 2_000, (i) => ({ n: String(i) }));
    const one = startTempest(["run", "y", "--set", "topology.y.source.consumer=one"], { cwd: p.dir, env: p.env });
    const two = startTempest(["run", "y", "--set", "topology.y.source.consumer=two"], { cwd: p.dir, env: p.env });
    await waitFor(() => tasksJoined(one.stderr(), ["D"]), "D to join");
    await waitFor(() => tasksJoined(two.stderr(), ["D"]), "D to join");
    await waitFor(() => idsAtD(p.dir).size > 300, "work to start");
    const victims = [one.proc.pid, ...childPids(one.proc.pid)];
    // Freeze the victim, then look: only a consumer that holds pending entries is worth killing
    // (under load it may have acked all it held at that instant). Thaw and look again if not.
    // Under load it may even have finished its share: then it gets more work and we look again.
    const left = await waitFor(async () => {
      for (const pid of victims) process.kill(pid, "SIGSTOP");
      const pending = (await redis.call("XPENDING", p.key, p.group, "-", "+", 100000, "one")) as unknown[];
      if (pending.length > 0) return pending;
      for (const pid of victims) process.kill(pid, "SIGCONT");
      ids.push(...(await redis.xadd(p.key, 200, (i) => ({ n: String(ids.length + i) }))));
      await Bun.sleep(50);
      return undefined;
    }, "consumer one to hold pending entries", 30_000);
    for (const pid of victims) process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    expect(left.length).toBeGreaterThan(0);
    await waitFor(async () => ((await redis.call("XPENDING", p.key, p.group, "-", "+", 100000, "one")) as unknown[]).length === 0, "the survivor to claim every entry of the dead consumer", 2_000 + 5_000);
    const claimedAfter = Date.now() - killedAt;
    await expectAllDone(redis, p, ids);
    console.log(`survivor claimed the ${left.length} entries of the dead consumer ${claimedAfter} ms after the SIGKILL (claim_idle_ms 2000); all done after ${Date.now() - killedAt} ms`);
    expect(two.stderr()).toMatch(/claimed \d+ entr(y|ies) idle for over 2000 ms/);
    expect(victims.every((pid) => !isAlive(pid))).toBe(true);
    two.proc.kill("SIGTERM");
    expect(await two.exited).toBe(0);
  }, 60_000);

  test("a poison entry goes to <key>:dead with its error and attempts, is acked; the rest complete", async () => {
    const p = streamProject(redis, {
      runtime: "retry = 1\n",
      tasks: { C: `import { defineTask } from "tempest";\nexport default defineTask({ handle(m) { if (m.n === "13") throw new Error("13 is unlucky"); return m; } });\n` },
    });
    // The entries have their own `id` and `error`: the dead letter must keep them and add its own beside them.
    const ids = await redis.xadd(p.key, 200, (i) => ({ n: String(i), id: `order-${i}`, error: "none" }));
    const run = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
    await waitFor(() => idsAtD(p.dir).size === 199, "199 ids to reach D");
    await waitFor(async () => (await pendingCount(redis, p.key, p.group)) === 0, "the poison entry to be acked too");
    const dead = (await redis.call("XRANGE", `${p.key}:dead`, "-", "+")) as Array<[string, string[]]>;
    expect(dead.length).toBe(1);
    const names = chunk(dead[0]![1]).map(([k]) => k);
    expect(names).toEqual(["n", "id", "error", "tempest.id", "tempest.topology", "tempest.error", "tempest.where", "tempest.attempts", "tempest.at"]);
    const fields = Object.fromEntries(chunk(dead[0]![1]));
    expect(fields).toMatchObject({ n: "13", id: "order-13", error: "none", "tempest.id": ids[12], "tempest.error": "C: 13 is unlucky", "tempest.topology": "y" });
    expect(fields["tempest.where"]).toMatch(/^src\/tasks\/c\.ts:2:\d+$/);
    const attempts = JSON.parse(fields["tempest.attempts"] as string) as Array<{ attempt: number; at: string }>;
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(attempts.every((a) => new Date(a.at).toISOString() === a.at)).toBe(true);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain("completed 199, retried 1, dead-lettered 1");
  });

  test("an entry whose field is not JSON is dead-lettered with the parse error, not a crash", async () => {
    const p = streamProject(redis, { source: 'field = "data"\ncodec = "json"\n' });
    const ids = [
      ...(await redis.xadd(p.key, 3, (i) => ({ data: JSON.stringify({ n: i }) }))),
      ...(await redis.xadd(p.key, 1, () => ({ data: "{oops" }))),
      ...(await redis.xadd(p.key, 2, (i) => ({ data: JSON.stringify({ n: 10 + i }) }))),
    ];
    const run = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
    await waitFor(() => idsAtD(p.dir).size === 5, "the 5 good entries");
    await waitFor(async () => (await pendingCount(redis, p.key, p.group)) === 0, "the bad entry to be acked");
    const dead = (await redis.call("XRANGE", `${p.key}:dead`, "-", "+")) as Array<[string, string[]]>;
    const fields = Object.fromEntries(chunk(dead[0]![1]));
    expect(fields.data).toBe("{oops");
    expect(fields["tempest.id"]).toBe(ids[3]);
    expect(String(fields["tempest.error"])).toContain("field `data` is not valid JSON");
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
  });
});

describe("redis-stream: Redis goes away", () => {
  test("Redis restarted without persistence: the group is re-created (NOGROUP) and new entries flow", async () => {
    const server = await startRedis();
    const p = streamProject(server);
    const first = await server.xadd(p.key, 10, (i) => ({ n: String(i) }));
    const run = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
    await waitFor(() => first.every((id) => idsAtD(p.dir).has(id)), "the first 10 entries");
    await server.restart();
    const second = await server.xadd(p.key, 10, (i) => ({ n: String(100 + i) }));
    await waitFor(() => second.every((id) => idsAtD(p.dir).has(id)), "10 entries added after the restart", 20_000);
    expect(run.stderr()).toContain("consumer group `diamond` is gone (NOGROUP); creating it again");
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    await server.stop();
  }, 40_000);

  test("redis-server down for 5 s mid-run (appendonly): the run completes with every id", async () => {
    const server = await startRedis({ appendonly: true });
    const p = streamProject(server, { tasks: { A: `import { defineTask } from "tempest";\nexport default defineTask({ async handle(m) { await Bun.sleep(1); return m; } });\n` } });
    const ids = await server.xadd(p.key, N, (i) => ({ n: String(i) }));
    const run = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
    await waitFor(() => idsAtD(p.dir).size > 2000, "2,000 ids to reach D", 30_000);
    await server.restart({ downMs: 5_000 });
    const counts = await expectAllDone(server, p, ids, 60_000);
    const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
    console.log(`redis down 5 s: ${ids.length} ids processed, ${duplicates} twice`);
    expect(run.stderr()).toMatch(/Redis at 127\.0\.0\.1:\d+ is unreachable|lost the connection to Redis/);
    expect(run.stderr()).toMatch(/Redis at 127\.0\.0\.1:\d+ is back after \d+ ms/);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    await server.stop();
  }, 90_000);
});

test("field + codec = \"cbor\": a binary field is decoded as CBOR", async () => {
  const p = streamProject(redis, { source: 'field = "data"\ncodec = "cbor"\n', join: "all", tasks: { A: `import { defineTask } from "tempest";\nexport default defineTask({ handle(m) { if (m.nested.list[1] !== 2) throw new Error("bad " + JSON.stringify(m)); return m; } });\n` } });
  const { encodeCbor } = await import("../../src/codec/index.ts");
  const id = String(await redis.client().xadd(p.key, "*", "data", Buffer.from(encodeCbor({ nested: { list: [1, 2, 3] } }))));
  const run = startTempest(["run", "y"], { cwd: p.dir, env: p.env });
  await waitFor(() => idsAtD(p.dir).has(id), "the CBOR entry to reach D");
  run.proc.kill("SIGTERM");
  expect(await run.exited).toBe(0);
  expect(run.stdout()).toContain("read 1, completed 1, retried 0, dead-lettered 0");
});

describe("redis-stream: what cannot work says so in one line", () => {
  test("a uri that does not parse (check and run)", async () => {
    const p = streamProject(redis);
    await Bun.write(join(p.dir, "Runtime.toml"), `[topology.y.source]\ntype = "redis-stream"\nuri = "localhost:6379"\nkey = "k"\ngroup = "g"\n`);
    for (const cmd of ["check", "run"]) {
      const r = await runTempest([cmd, ...(cmd === "run" ? ["y"] : [])], { cwd: p.dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('Runtime.toml:3:1: [topology.y.source] uri: "localhost:6379" is not a Redis URL — write it as redis://HOST:PORT/DB');
    }
  });

  test("a host that refuses connections", async () => {
    const p = streamProject(redis);
    const r = await runTempest(["run", "y", "--set", "topology.y.source.uri=redis://127.0.0.1:1/0"], { cwd: p.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Redis at 127.0.0.1:1 is not reachable (ECONNREFUSED)");
  });

  test("a key holding something other than a stream", async () => {
    const p = streamProject(redis);
    await redis.call("SET", p.key, "hello");
    const r = await runTempest(["run", "y"], { cwd: p.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Redis key \`${p.key}\` holds a string, not a stream (WRONGTYPE)`);
  });
});

describe("registry and tempest status", () => {
  test("status lists the topology and every task during a run; a clean stop removes them; a SIGKILL lets them expire", async () => {
    const p = streamProject(redis, { runtime: "\n[topology.y.task.B]\nworkers = 2\n" });
    await redis.xadd(p.key, 100, (i) => ({ n: String(i) }));
    const env = { ...p.env, TEMPEST_REGISTRY_TTL_MS: "1500" };
    const status = async () => {
      const r = await runTempest(["status", "--redis", redis.url, "--json"], { env });
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as { services: Array<{ kind: string; topology: string; task?: string; instance?: string; pid: number }>; topologies: Array<{ topology: string; source: { read: number; acked: number } }> };
    };
    const names = (s: Awaited<ReturnType<typeof status>>) => s.services.map((x) => (x.kind === "task" ? `${x.task}#${x.instance}` : x.kind)).sort();

    const run = startTempest(["run", "y"], { cwd: p.dir, env });
    const during = await waitFor(async () => {
      const s = await status();
      return s.services.length === 4 && s.topologies[0]?.source.acked === 100 ? s : undefined;
    }, "4 services and 100 acked in status");
    // B has its own count of workers, so its own processes; A, C and D share one fused worker.
    expect(names(during)).toEqual(["A#0", "B#0", "B#1", "topology"]);
    expect(during.services.find((x) => x.task === "A")).toMatchObject({ tasks: ["A", "C", "D"] });
    expect(during.topologies[0]?.topology).toBe("y");
    const human = await runTempest(["status", "--redis", redis.url], { env });
    expect(human.stdout).toMatch(/topology y \(1 instance\): source redis-stream read 100, pending 0, acked 100, dead-lettered 0/);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect((await status()).services).toEqual([]);

    const killed = startTempest(["run", "y"], { cwd: p.dir, env });
    await waitFor(async () => (await status()).services.length === 4, "4 services again");
    const all = [killed.proc.pid, ...childPids(killed.proc.pid)];
    for (const pid of all) process.kill(pid, "SIGKILL");
    expect((await status()).services.length).toBe(4); // still there: nobody said goodbye
    await waitFor(async () => (await status()).services.length === 0, "the entries to expire with their TTL", 5_000);
  }, 60_000);
});

describe("examples/redis-stream, as its README drives it", () => {
  test("XADD three orders: two settle, the invalid one lands in orders:dead; status shows the topology", async () => {
    const server = await startRedis();
    // Only the variable, as the README says: the topology and `status` must use the same Redis.
    const env = { TEMPEST_REDIS_URL: server.url };
    const project = join(import.meta.dir, "../../examples/redis-stream");
    const check = await runTempest(["check", "--project", project], { env });
    expect(check.stdout).toContain(`source: redis-stream at ${server.url} (from TEMPEST_REDIS_URL)`);
    const run = startTempest(["run", "orders", "--project", project], { env });
    await waitFor(() => tasksJoined(run.stderr(), ["settle"]), "settle to join");
    await server.call("XADD", "orders", "*", "id", "1", "amount", "19.90");
    await server.call("XADD", "orders", "*", "id", "2", "amount", "950");
    await server.call("XADD", "orders", "*", "id", "3", "amount", "oops");
    await run.waitForStderr(/high-risk order, total 1140/);
    await waitFor(async () => ((await server.call("XLEN", "orders:dead")) as number) === 1, "the invalid order in orders:dead");
    await waitFor(async () => (await pendingCount(server, "orders", "settlement")) === 0, "every entry acked");
    // Snapshots are written every 2 s: wait for one taken after the work.
    await waitFor(async () => (await runTempest(["status"], { env })).stdout.includes("topology orders (1 instance): source redis-stream read 3, pending 0, acked 3, dead-lettered 1"), "status to show the 3 orders", 5_000);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    await server.stop();
  });
});
