/**
 * The redis-stream source: Tempest's diamond vs the raw ceiling, in one run (figures in
 * bench/README.md).
 *   (1) raw ceiling: one Bun process doing XREADGROUP COUNT 100 → the four handlers inline →
 *       XACK, no hops;
 *   (2) `tempest run` on the diamond (A → B, C → D, join = "all") with the redis-stream source.
 * Each over BENCH_COUNT entries (default 100,000) XADDed beforehand, against a redis-server this
 * script starts on a free port.
 *
 *   npm run build && npx bun bench/redis.bench.ts
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Redis from "ioredis";
import { startRedis } from "../test/helpers/redis.ts";

const COUNT = Number(process.env.BENCH_COUNT ?? 100_000);
const TEMPEST = resolve(import.meta.dir, "../dist/tempest");

async function fill(key: string): Promise<string> {
  await server.xadd(key, COUNT, (i) => ({ id: String(i), amount: String(i % 1000) }));
  return key;
}

/** The four diamond handlers, inline. */
const A = (m: Record<string, string>) => ({ id: Number(m.id), amount: Number(m.amount) });
const B = (o: { amount: number }) => ({ tax: o.amount * 0.2 });
const C = (o: { amount: number }) => ({ risk: o.amount > 500 ? "high" : "low" });
const D = (j: { B: unknown[]; C: unknown[] }) => j.B.length + j.C.length;

async function rawCeiling(key: string): Promise<number> {
  const redis = new Redis(server.port, "127.0.0.1");
  await redis.xgroup("CREATE", key, "raw", "0", "MKSTREAM");
  const t0 = performance.now();
  let done = 0;
  let sink = 0;
  while (done < COUNT) {
    const reply = (await redis.xreadgroup("GROUP", "raw", "c", "COUNT", 100, "STREAMS", key, ">")) as Array<[string, Array<[string, string[]]>]> | null;
    const entries = reply?.[0]?.[1] ?? [];
    const ids: string[] = [];
    for (const [id, fields] of entries) {
      const msg: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) msg[fields[i]!] = fields[i + 1]!;
      const a = A(msg);
      sink += D({ B: [B(a)], C: [C(a)] });
      ids.push(id);
    }
    if (ids.length) await redis.xack(key, "raw", ...ids);
    done += ids.length;
  }
  const rate = COUNT / ((performance.now() - t0) / 1000);
  redis.disconnect();
  if (sink < 0) console.log(sink);
  return rate;
}

async function throughTempest(key: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "tempest-bench-redis-"));
  const task = (body: string) => `import { defineTask } from "tempest";\nexport default defineTask(${body});\n`;
  const files: Record<string, string> = {
    "Project.toml": `[project]\nmembers = ["p.toml"]\n`,
    "p.toml": `[project]\nname = "bench"\n\n[[topology]]\nname = "diamond"\ngraph = "A --> B; A --> C; B --> D; C --> D;"\n` +
      ["A", "B", "C", "D"].map((t) => `[[topology.task]]\nname = "${t}"\ntype = "${t.toLowerCase()}.ts"\n${t === "D" ? 'join = "all"\n' : ""}`).join(""),
    "a.ts": task("{ handle: (m) => ({ id: Number(m.id), amount: Number(m.amount) }) }"),
    "b.ts": task("{ handle: (o) => ({ tax: o.amount * 0.2 }) }"),
    "c.ts": task('{ handle: (o) => ({ risk: o.amount > 500 ? "high" : "low" }) }'),
    "d.ts": task("{ handle: (j) => { void (j.B.length + j.C.length); } }"),
    "Runtime.toml": `[topology.diamond.source]\ntype = "redis-stream"\nuri = "${server.url}"\nkey = "${key}"\ngroup = "tempest"\n`,
  };
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, ".."), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  const redis = new Redis(server.port, "127.0.0.1");
  const run = Bun.spawn([TEMPEST, "run", "diamond"], { cwd: dir, stdout: "ignore", stderr: "pipe" });
  try {
    // Time from the first ack to the last: start-up (processes, connections) is not throughput.
    let first = 0;
    for (;;) {
      const groups = (await redis.xinfo("GROUPS", key)) as unknown[][];
      const g = groups[0] ?? [];
      const field = (name: string) => Number(g[g.indexOf(name) + 1]);
      const acked = field("entries-read") - field("pending");
      if (!first && acked > 0) first = performance.now() - 0;
      if (field("lag") === 0 && field("pending") === 0 && field("entries-read") >= COUNT) break;
      await Bun.sleep(20);
    }
    return COUNT / ((performance.now() - first) / 1000);
  } finally {
    run.kill("SIGTERM");
    await run.exited;
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run last: the handlers above must exist before the top-level await uses them.
const server = await startRedis();
try {
  const raw = await rawCeiling(await fill("raw"));
  const tempest = await throughTempest(await fill("tempest"));
  console.log(`raw ceiling (XREADGROUP → 4 handlers inline → XACK, one process): ${Math.round(raw)} entries/s`);
  console.log(`tempest diamond, redis-stream, default settings:                ${Math.round(tempest)} entries/s  (${(tempest / raw).toFixed(2)} x raw)`);
} finally {
  await server.stop();
}
