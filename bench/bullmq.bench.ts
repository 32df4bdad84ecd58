/**
 * The diamond (A → B, A → C, B → D, C → D, D joining B and C) as a Node user would build it
 * today with BullMQ Flows, against Tempest's diamond (D `join = "all"`) in the same run.
 *
 *   (1) BullMQ: BULLMQ_COUNT roots (default 10,000) addBulk'ed to queue A before timing; A's
 *       worker parses a root and adds a flow whose parent is a D job with children B and C,
 *       each given A's output; D reads its children's values (job.getChildrenValues()). One
 *       Worker per queue, concurrency BULLMQ_CONCURRENCY (default 50) each, all four Workers
 *       and the FlowProducer in this one process, against a redis-server this script starts on
 *       a free port. Timed from starting the Workers to the last D completion.
 *   (2) Tempest: `tempest run` on the same diamond, generator source of TEMPEST_COUNT roots
 *       (default 100,000), default settings; the rate is the summary line's.
 * The same tiny handlers on both sides (A parses, B computes a tax, C a risk, D counts).
 *
 *   npm run build && npx bun bench/bullmq.bench.ts
 */
import { FlowProducer, Queue, Worker, type Job } from "bullmq";
import { startRedis, type TestRedis } from "../test/helpers/redis.ts";
import { runDiamond } from "./_diamond-run.ts";

const BULLMQ_COUNT = Number(process.env.BULLMQ_COUNT ?? 10_000);
const TEMPEST_COUNT = Number(process.env.TEMPEST_COUNT ?? 100_000);
const CONCURRENCY = Number(process.env.BULLMQ_CONCURRENCY ?? 50);
/** Give up when no D finishes for this long: a stuck flow should fail the bench, not hang it. */
const STALL_MS = 60_000;
const DATA = "x".repeat(64);

interface Root { id: string; amount: string; data: string }
interface Parsed { id: number; amount: number }

/** The four diamond handlers, as in bench/redis.bench.ts. */
const A = (m: Root): Parsed => ({ id: Number(m.id), amount: Number(m.amount) });
const B = (o: Parsed) => ({ tax: o.amount * 0.2 });
const C = (o: Parsed) => ({ risk: o.amount > 500 ? "high" : "low" });
const D = (j: { B: unknown[]; C: unknown[] }) => j.B.length + j.C.length;

async function throughBullmq(server: TestRedis, n: number): Promise<number> {
  const connection = { host: "127.0.0.1", port: server.port };
  // What a user sets so Redis does not keep every finished job forever. A child's return value
  // lives on in its parent's "processed" hash, so removing B and C does not hide them from D.
  const keep = { removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } };
  const queueA = new Queue<Root>("A", { connection });
  const flow = new FlowProducer({ connection });
  const workers: Worker[] = [];
  const running: Array<Promise<void>> = [];
  let finished = 0;
  let failure: Error | null = null;
  let sink = 0;
  try {
    for (let start = 0; start < n; start += 1000) {
      const jobs = [];
      for (let i = start + 1; i <= Math.min(n, start + 1000); i++) jobs.push({ name: "root", data: { id: String(i), amount: String(i % 1000), data: DATA } });
      await queueA.addBulk(jobs);
    }
    const worker = <T, R>(queue: string, handle: (job: Job<T>) => Promise<R>) => {
      const w = new Worker<T, R>(queue, handle, { connection, concurrency: CONCURRENCY, autorun: false, ...keep });
      w.on("failed", (job, err) => (failure ??= new Error(`BullMQ job ${queue}:${job?.id} failed: ${err.message}`)));
      w.on("error", (err) => (failure ??= new Error(`BullMQ worker ${queue}: ${err.message}`)));
      workers.push(w as unknown as Worker);
      return w;
    };
    worker<Root, void>("A", async (job) => {
      const a = A(job.data);
      await flow.add({
        name: "D",
        queueName: "D",
        data: { root: a.id },
        opts: keep,
        children: [
          { name: "B", queueName: "B", data: a, opts: keep },
          { name: "C", queueName: "C", data: a, opts: keep },
        ],
      });
    });
    worker<Parsed, ReturnType<typeof B>>("B", async (job) => B(job.data));
    worker<Parsed, ReturnType<typeof C>>("C", async (job) => C(job.data));
    const d = worker<{ root: number }, number>("D", async (job) => {
      const j: { B: unknown[]; C: unknown[] } = { B: [], C: [] };
      for (const [key, value] of Object.entries(await job.getChildrenValues())) (key.includes(":B:") ? j.B : j.C).push(value);
      if (j.B.length !== 1 || j.C.length !== 1) throw new Error(`D of root ${job.data.root} got ${j.B.length} B and ${j.C.length} C values`);
      return D(j);
    });
    d.on("completed", (_job, value) => {
      sink += value;
      finished++;
    });
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    await flow.waitUntilReady();

    const t0 = performance.now();
    for (const w of workers) running.push(w.run().catch((e: Error) => void (failure ??= e)));
    let seen = 0;
    let progressAt = t0;
    while (finished < n) {
      if (failure) throw failure;
      const now = performance.now();
      if (finished !== seen) [seen, progressAt] = [finished, now];
      else if (now - progressAt > STALL_MS) throw new Error(`BullMQ: no D finished for ${STALL_MS / 1000} s (${finished} of ${n})`);
      await Bun.sleep(5);
    }
    const rate = n / ((performance.now() - t0) / 1000);
    if (sink !== 2 * n) throw new Error(`BullMQ: D counted ${sink} child values, expected ${2 * n}`);
    return rate;
  } finally {
    // Workers first (close() waits for their active jobs; forced when something already failed),
    // then what they used. Each owns its own connections: nothing is left to keep this process up.
    await Promise.all(workers.map((w) => w.close(failure !== null)));
    await Promise.all(running);
    await flow.close();
    await queueA.close();
  }
}

const handlers = {
  A: "{ handle: (m) => ({ id: m.seq, amount: m.seq % 1000 }) }",
  B: "{ handle: (o) => ({ tax: o.amount * 0.2 }) }",
  C: '{ handle: (o) => ({ risk: o.amount > 500 ? "high" : "low" }) }',
  D: "{ handle: (j) => { void (j.B.length + j.C.length); } }",
};

let bullmq: number;
const server = await startRedis();
try {
  bullmq = await throughBullmq(server, BULLMQ_COUNT);
} finally {
  await server.stop();
}
const tempest = await runDiamond({ count: TEMPEST_COUNT, join: "all", handlers });
console.log(tempest.line);
console.log(`BullMQ Flows diamond, ${BULLMQ_COUNT} roots, 4 Workers x concurrency ${CONCURRENCY}, one process: ${Math.round(bullmq)} roots/s`);
console.log(`Tempest diamond (join = "all"), default settings, ${TEMPEST_COUNT} roots:      ${tempest.rate} roots/s  (${(tempest.rate / bullmq).toFixed(2)} x BullMQ)`);
