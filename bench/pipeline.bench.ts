/**
 * Pipeline state machine throughput: 200,000 roots through the diamond A→B, A→C, B→D, C→D,
 * one session per task answering every delivery at once (A, B, C pass the payload on, D ends
 * the branch), and the same with the four tasks in one fused worker (one delivery per root).
 * Measures the state machine alone, no I/O; each configuration runs twice (cold, then warm
 * JIT). Then the state a root in flight costs. Run: bun bench/pipeline.bench.ts
 */
import { capacity, createPipeline, inflightRoots, step, type Effect, type PipelineConfig, type TaskSpec } from "../src/core/pipeline/index.ts";

function diamond(join: boolean): TaskSpec[] {
  return [
    { name: "A", parents: [], children: ["B", "C"], join: "union" },
    { name: "B", parents: ["A"], children: ["D"], join: "union" },
    { name: "C", parents: ["A"], children: ["D"], join: "union" },
    { name: "D", parents: ["B", "C"], children: [], join: join ? "all" : "union" },
  ];
}

/** A cheap join encoder (concatenation) so the figure is the state machine's, not a codec's. */
function concatJoin(parts: Array<[string, Uint8Array[]]>): Uint8Array {
  let size = 0;
  for (const [, items] of parts) for (const item of items) size += item.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const [, items] of parts)
    for (const item of items) {
      out.set(item, at);
      at += item.length;
    }
  return out;
}

const ROOTS = Number(process.env.ROOTS ?? 200_000);
const MAX_PENDING = 1000;
const CREDITS = 256;

function configFor(join: boolean, maxPending: number, fused = false): PipelineConfig {
  return {
    ...(fused ? { units: [["A", "B", "C", "D"]] } : {}),
    topology: "bench",
    tasks: diamond(join),
    timeoutMs: 30_000,
    retry: 3,
    maxPending,
    backoff: { initialMs: 100, maxMs: 10_000, factor: 2 },
    leaseMs: 30_000,
    encodeJoin: concatJoin,
  };
}

function run(join: boolean, fused = false): void {
  const st = createPipeline(configFor(join, MAX_PENDING, fused));
  const payload = new Uint8Array(64);
  const todo: Array<{ session: string; delivery: number; payload: Uint8Array }> = [];
  let head = 0;
  let acked = 0;
  let deliveries = 0;
  const take = (effects: Effect[]) => {
    for (const e of effects) {
      if (e.type === "deliver") {
        todo.push({ session: e.session, delivery: e.delivery, payload: e.payload });
        deliveries++;
      } else if (e.type === "ack") acked++;
      else throw new Error(`unexpected ${e.type}`);
    }
  };
  const t0 = performance.now();
  for (const t of fused ? "A" : "ABCD") {
    take(step(st, { type: "session_open", session: t, task: t }, 0));
    take(step(st, { type: "credits", session: t, n: CREDITS }, 0));
  }
  let sent = 0;
  let n = 0;
  while (acked < ROOTS) {
    const now = performance.now() - t0;
    for (let c = capacity(st); c > 0 && sent < ROOTS; c--) take(step(st, { type: "source", id: `m${++sent}`, payload }, now));
    while (head < todo.length) {
      const job = todo[head]!;
      todo[head++] = undefined as never;
      // A fused worker ran the whole diamond: nothing leaves it.
      take(step(st, { type: "done", session: job.session, delivery: job.delivery, outputs: job.session === "D" || fused ? [] : [job.payload] }, now));
      take(step(st, { type: "credits", session: job.session, n: 1 }, now));
      if (++n % 1000 === 0) take(step(st, { type: "tick" }, performance.now() - t0));
    }
    todo.length = 0;
    head = 0;
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `pipeline diamond (D ${join ? "join=all" : "union"}${fused ? ", one fused worker" : ""}): ${ROOTS} roots in ${secs.toFixed(2)} s = ${Math.round(ROOTS / secs).toLocaleString("en")} roots/s, ${Math.round(deliveries / secs).toLocaleString("en")} deliveries/s`,
  );
}

/** Every measured pipeline stays alive: one freed during a later measurement would make that one look smaller. */
const measured: unknown[] = [];

/**
 * Heap bytes per root in flight, one shared 64-byte payload: waiting at A (no session), and
 * leased to a session (what a topology holds while a worker works on it).
 */

function memory(join: boolean, leased: boolean, fused = false): void {
  const N = 100_000;
  const payload = new Uint8Array(64);
  const ids = Array.from({ length: N }, (_, i) => `m${i + 1}`); // the source's ids exist anyway
  Bun.gc(true);
  const before = process.memoryUsage().heapUsed;
  const st = createPipeline(configFor(join, N, fused));
  if (leased) {
    step(st, { type: "session_open", session: "A", task: "A" }, 0);
    step(st, { type: "credits", session: "A", n: N }, 0);
  }
  for (let i = 0; i < N; i++) step(st, { type: "source", id: ids[i]!, payload }, 0);
  Bun.gc(true);
  const per = (process.memoryUsage().heapUsed - before) / inflightRoots(st);
  measured.push(st, ids);
  console.log(`memory (D ${join ? "join=all" : "union"}${fused ? ", fused" : ""}, ${leased ? "leased to a worker" : "waiting for a session"}): ~${Math.round(per)} bytes of state per root in flight (the payload and the id are the source's)`);
}

run(false);
run(true);
run(false, true);
run(false);
run(true);
run(false, true);
memory(false, false);
memory(false, true);
memory(false, true, true);
memory(true, true);
