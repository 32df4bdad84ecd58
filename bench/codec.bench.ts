/**
 * Codec throughput: `npx bun bench/codec.bench.ts` (figures in bench/README.md).
 * Each case runs ~2 s after a short warm-up and reports envelopes encoded+decoded per second
 * (median of ten slices).
 * CBOR_NATIVE_ACCELERATION_DISABLED=true mimics the compiled binary (no cbor-extract there).
 */
import { isNativeAccelerationEnabled } from "cbor-x";
import { encodeCbor, encodeFrame, encodeFrames, FrameDecoder } from "../src/codec/index.ts";
import { type DeliverItem, type Deliveries, parseTopologyToTask } from "../src/protocol/topology-task.ts";

const RUN_MS = Number(process.env.BENCH_MS ?? 2000);
const BATCH = 1000;

const msg = encodeCbor({ id: 123, text: "hello world" });
const item = (delivery: number): DeliverItem => [delivery, "1764350000000-0", -1, 0, 0, msg];
/** One delivery in a frame of its own (the old shape of the wire). */
const deliver: Deliveries = { type: "deliveries", items: [item(0)] };
const jsonEnvelope = { type: "deliver", delivery: 0, topology_id: "wordcount@3", msg_id: "1764350000000-0", edge: ["source", "split"], attempt: 0, msg: Buffer.from(msg).toString("base64") };

let sink = 0;

/**
 * Calls `round()` (which handles `perRound` envelopes) for RUN_MS in 10 slices and reports the
 * median slice rate, with the slowest and fastest: the machine is shared, the median is stable.
 */
function measure(name: string, perRound: number, round: (i: number) => void): number {
  const warmEnd = performance.now() + Math.min(300, RUN_MS / 4);
  let i = 0;
  while (performance.now() < warmEnd) round(i++);
  const rates: number[] = [];
  for (let slice = 0; slice < 10; slice++) {
    let rounds = 0;
    const start = performance.now();
    const end = start + RUN_MS / 10;
    let now = start;
    while (now < end) {
      for (let k = 0; k < 16; k++, rounds++) round(i++);
      now = performance.now();
    }
    rates.push((rounds * perRound) / ((now - start) / 1000));
  }
  rates.sort((x, y) => x - y);
  const median = (rates[4]! + rates[5]!) / 2;
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(`${name.padEnd(54)} ${fmt(median).padStart(11)} ops/s  (slices ${fmt(rates[0]!)}..${fmt(rates[9]!)})`);
  return median;
}

console.log(`bun ${Bun.version}, cbor-x native acceleration: ${isNativeAccelerationEnabled ? "on" : "off"}`);
console.log(`deliver frame: ${encodeFrame(deliver).length} bytes; JSON: ${JSON.stringify(jsonEnvelope).length} bytes\n`);

const baseline = measure("(1) JSON.stringify + JSON.parse (msg as base64)", 1, (i) => {
  jsonEnvelope.delivery = i;
  const back = JSON.parse(JSON.stringify(jsonEnvelope)) as { delivery: number };
  sink += back.delivery;
});

const single = new FrameDecoder();
const one = measure("(2) encodeFrame + push + parseTopologyToTask, 1/push", 1, (i) => {
  deliver.items[0]![0] = i;
  for (const v of single.push(encodeFrame(deliver))) sink += parseTopologyToTask(v).type.length;
});

const batched = new FrameDecoder();
// The shape of the wire since protocol 2: one `deliveries` frame of many tuples.
const batch: Deliveries = { type: "deliveries", items: Array.from({ length: BATCH }, (_, k) => item(k)) };
const many = measure(`(3) one frame of ${BATCH} deliveries: encode + push + parse`, BATCH, (i) => {
  for (let k = 0; k < BATCH; k++) batch.items[k]![0] = i * BATCH + k;
  for (const v of batched.push(encodeFrames([batch]))) sink += parseTopologyToTask(v).type.length;
});

console.log(`\nratio to baseline: (2) ${(one / baseline).toFixed(2)}x, (3) ${(many / baseline).toFixed(2)}x`);
console.log(`target >= 300,000/s: (2) ${one >= 300_000 ? "met" : "NOT met"}, (3) ${many >= 300_000 ? "met" : "NOT met"}`);
if (sink === 42) console.log(""); // keep the work observable
