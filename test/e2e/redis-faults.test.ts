/** Issue 13 faults with a redis-stream source, on the compiled binary and a real Redis. */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { diamondFiles, D_RECORDS, idsAtD } from "../helpers/projects.ts";
import { childPids, startTempest, stopAll } from "../helpers/process.ts";
import { startRedis, stopAllRedis, type TestRedis } from "../helpers/redis.ts";
import { cleanupTempDirs, tempProject, waitFor, tasksJoined } from "../helpers/tempest.ts";

afterEach(stopAll);
afterAll(async () => {
  await stopAllRedis();
  cleanupTempDirs();
});

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});


test("an entry retried for longer than claim_idle_ms is dead-lettered once, and one consumer claims nothing from itself", async () => {
  const key = `${redis.prefix()}:orders`;
  const dir = tempProject(diamondFiles({
    tasks: {
      D: D_RECORDS,
      // Every 50th entry never answers: each of its 4 attempts times out after 1 s, so its root
      // lives about 5 s, well past claim_idle_ms (the message timeout, 1 s).
      B: `import { defineTask } from "tempest";
export default defineTask({ handle(msg) { if (Number(msg.n) % 50 === 0) return new Promise(() => {}); return msg; } });
`,
    },
    runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "${key}"\ngroup = "g"\n\n[topology.y.message]\ntimeout = 1000\nretry = 3\n`,
  }));
  const ids = await redis.xadd(key, 200, (i) => ({ n: String(i) }));
  const poison = ids.filter((_, i) => (i + 1) % 50 === 0);
  const run = startTempest(["run", "y"], { cwd: dir });
  // Every healthy id reaches D; a poison one may or may not (in one fused worker C runs after B, which hangs).
  const healthy = ids.filter((id) => !poison.includes(id));
  await waitFor(async () => healthy.every((id) => idsAtD(dir).has(id)) && Number(await redis.call("XLEN", `${key}:dead`)) >= 4, "every healthy id at D and 4 dead letters", 40_000).catch((e) => {
    console.error(run.stderr().split("\n").slice(-30).join("\n"));
    throw e;
  });
  // A second root of the same entry would start at a claim, about 1 s after the first, and be
  // dead-lettered about 1 s after it: the drain below waits for whatever is still in flight.
  run.proc.kill("SIGTERM");
  expect(await run.exited).toBe(0);
  const letters = (await redis.call("XRANGE", `${key}:dead`, "-", "+")) as Array<[string, string[]]>;
  const letterIds = letters.map(([, f]) => f[f.indexOf("tempest.id") + 1]).sort();
  console.log(`dead letters: ${letters.length} for ${new Set(letterIds).size} entries (${poison.length} poison)`);
  expect(letterIds).toEqual([...poison].sort());
  expect(run.stdout()).toContain("read 200, completed 196, retried 12, dead-lettered 4");
  expect(run.stderr()).not.toContain("claimed");
  const pending = (await redis.call("XPENDING", key, "g")) as [number, ...unknown[]];
  expect(Number(pending[0])).toBe(0);
}, 60_000);

test("acceptance: 20,000 entries through the diamond with every fault at once; every healthy id processed, only the bad ones dead-lettered, once each; XPENDING 0", async () => {
  const key = `${redis.prefix()}:orders`;
  const dir = tempProject(diamondFiles({
    join: "all",
    tasks: {
      D: D_RECORDS,
      // A hanging id.
      B: `import { defineTask } from "tempest";
export default defineTask({ handle(msg) { if (msg.n === "777") return new Promise(() => {}); return msg; } });
`,
      // A task that will be SIGKILLed repeatedly.
      C: `import { defineTask } from "tempest";
import { appendFileSync, mkdirSync } from "node:fs";
mkdirSync("pids", { recursive: true });
appendFileSync("pids/C", process.pid + "\\n");
export default defineTask({ async handle(msg) { await Bun.sleep(0); return msg; } });
`,
    },
    runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "${key}"\ngroup = "g"\n\n[topology.y.message]\ntimeout = 10000\n\n[topology.y.task.B]\nconcurrency = 8\n`,
  }));
  const N = 20_000;
  const ids = await redis.xadd(key, N, (i) => ({ n: String(i) }));
  // A 20 MB entry.
  const bigId = String(await redis.call("XADD", key, "*", "n", "big", "blob", "x".repeat(20 * 1024 * 1024)));
  const hangId = ids[776]!;
  const run = startTempest(["run", "y"], { cwd: dir });
  const port = Number((await run.waitForStderr(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  // A slowloris peer: 50 connections that announce a frame and trickle.
  const loris: Socket[] = [];
  const trickles: ReturnType<typeof setInterval>[] = [];
  for (let i = 0; i < 50; i++) {
    const s = createConnection({ host: "127.0.0.1", port }, () => {
      s.write(new Uint8Array([0, 0, 0x10, 0]));
      trickles.push(setInterval(() => s.writable && s.write(new Uint8Array(10)), 100));
    });
    s.on("error", () => {});
    s.on("data", () => {});
    loris.push(s);
  }
  const cPids = () => (existsSync(join(dir, "pids/C")) ? readFileSync(join(dir, "pids/C"), "utf8").trim().split("\n").map(Number).filter((p) => p !== run.proc.pid) : []);
  const healthy = N - 1;
  let peak = 0;
  const topo = () => childPids(run.proc.pid).find((p) => { try { return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes("topology"); } catch { return false; } });
  const sampler = setInterval(() => {
    const t = topo();
    if (!t) return;
    try {
      peak = Math.max(peak, Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${t}/status`, "utf8"))?.[1] ?? 0) * 1024);
    } catch {
      // gone
    }
  }, 50);
  const t0 = Date.now();
  try {
    for (let kill = 1; kill <= 4; kill++) {
      const before = idsAtD(dir).size;
      const pid = await waitFor(() => {
        const pids = cPids();
        return pids.length === kill && idsAtD(dir).size > before + 200 ? pids.at(-1) : 0;
      }, `C's start number ${kill} and D to progress`, 30_000);
      process.kill(pid, "SIGKILL");
    }
    await waitFor(async () => idsAtD(dir).size === healthy && Number(await redis.call("XLEN", `${key}:dead`)) >= 2, "every healthy id at D and 2 dead letters", 90_000).catch((e) => {
      console.error(run.stderr().split("\n").filter((l) => !l.includes("joined")).slice(-30).join("\n"));
      throw e;
    });
  } finally {
    clearInterval(sampler);
    for (const t of trickles) clearInterval(t);
    for (const s of loris) s.destroy();
  }
  const took = Date.now() - t0;
  run.proc.kill("SIGTERM");
  expect(await run.exited).toBe(0);
  const letters = (await redis.call("XRANGE", `${key}:dead`, "-", "+")) as Array<[string, string[]]>;
  const letterIds = letters.map(([, f]) => f[f.indexOf("tempest.id") + 1]!).sort();
  const pending = (await redis.call("XPENDING", key, "g")) as [number, ...unknown[]];
  console.log(`acceptance: ${idsAtD(dir).size} healthy ids at D in ${took} ms; ${letters.length} dead letters (${letterIds.join(", ")}); XPENDING ${pending[0]}; topology peak RSS ${(peak / 1e6).toFixed(0)} MB; ${run.stdout().split("\n")[0]}`);
  expect(letterIds).toEqual([bigId, hangId].sort());
  expect(Number(pending[0])).toBe(0);
  expect(idsAtD(dir).size).toBe(healthy);
  expect(peak).toBeLessThan(1e9);
}, 180_000);

test("an entry pending under this consumer's own name but not held by this run (an earlier run read it late) is claimed after claim_idle_ms", async () => {
  const key = `${redis.prefix()}:orders`;
  const dir = tempProject(diamondFiles({
    tasks: { D: D_RECORDS },
    runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "${key}"\ngroup = "g"\nconsumer = "me"\nclaim_idle_ms = 1000\n`,
  }));
  await redis.call("XGROUP", "CREATE", key, "g", "0", "MKSTREAM");
  const run = startTempest(["run", "y"], { cwd: dir });
  await waitFor(() => tasksJoined(run.stderr(), ["D"]), "D to join");
  await redis.xadd(key, 10, (i) => ({ n: String(i) }));
  await waitFor(() => idsAtD(dir).size === 10, "the first 10 ids at D");
  // What the replaced run read just before it died: pending under "me", held by nobody alive.
  // One transaction, so that the topology's blocked read cannot take the entry first.
  const replies = (await redis.client().multi().xadd(key, "*", "n", "orphan").xreadgroup("GROUP", "g", "me", "COUNT", 1, "STREAMS", key, ">").exec()) as Array<[Error | null, unknown]>;
  const orphan = String(replies[0]![1]);
  await waitFor(() => idsAtD(dir).has(orphan), "the orphaned entry to be claimed and processed", 10_000);
  await waitFor(async () => Number(((await redis.call("XPENDING", key, "g")) as [number])[0]) === 0, "XPENDING 0");
  expect(run.stderr()).toMatch(/claimed 1 entry idle for over 1000 ms from me \(an earlier run of this consumer\)/);
  run.proc.kill("SIGTERM");
  expect(await run.exited).toBe(0);
}, 60_000);
