/**
 * Complete latency (a root's read at the source to its ack, per root) at half the maximum
 * rate, through the diamond (A → B, C → D, D union) in local mode, generator source of 64-byte
 * messages, pass-through handlers, default settings. In one run:
 *   (1) unthrottled, LAT_COUNT roots (default 100,000): the maximum rate, from the summary line;
 *   (2) the generator's `rate` = floor(max / 2), for about 10 s of messages (count = rate × 10):
 *       the rate achieved, and p50/p99 of the topology's complete-latency histogram, which it
 *       writes with its final summary to TEMPEST_RUN_SUMMARY_FILE. Also the same quantiles
 *       without the first WARMUP_S seconds' roots: the final histogram minus one asked for over
 *       the control port (stats_request) once that many roots completed. The whole-run p99 is
 *       the target; the other shows how much of it the start of a run (cold code, a worker
 *       catching up) holds.
 *
 *   npm run build && npx bun bench/latency.bench.ts
 */
import { Histogram, type HistogramSnapshot } from "../src/core/stats/histogram.ts";
import { controlRequest } from "../src/roles/topology/control-client.ts";
import { freePort } from "../test/helpers/redis.ts";
import { runDiamond } from "./_diamond-run.ts";

const COUNT = Number(process.env.LAT_COUNT ?? 100_000);
const SECONDS = 10;
const WARMUP_S = Number(process.env.LAT_WARMUP_S ?? 3);
const TARGET_P99_MS = 10;

/** The samples recorded after `earlier` was taken (both snapshots of the same histogram). */
function since(later: HistogramSnapshot, earlier: HistogramSnapshot): Histogram {
  const before = new Map(earlier.buckets);
  const buckets: Array<[number, number]> = later.buckets.map(([b, n]) => [b, n - (before.get(b) ?? 0)]);
  return Histogram.from({ buckets: buckets.filter(([, n]) => n > 0), count: later.count - earlier.count, sum: later.sum - earlier.sum, max: later.max });
}

/** Asks the running topology for its stats until `completed` roots are done; its complete histogram then. */
async function snapshotAt(port: number, completed: number, run: Bun.Subprocess): Promise<HistogramSnapshot | undefined> {
  while (run.exitCode === null && run.signalCode === null) {
    const stats = await controlRequest("127.0.0.1", port, "stats_request", 2_000).catch(() => undefined); // not listening yet
    if (stats && stats.completed >= completed) return stats.histograms?.complete;
    await Bun.sleep(50);
  }
  return undefined;
}

const max = await runDiamond({ count: COUNT });
console.log(`(1) unthrottled: ${max.line}`);
const rate = Math.floor(max.rate / 2);
const port = await freePort();
let warm: HistogramSnapshot | undefined;
const half = await runDiamond({ count: rate * SECONDS, rate, args: ["--port", String(port)], started: async (run) => void (warm = await snapshotAt(port, rate * WARMUP_S, run)) });
console.log(`(2) rate = ${rate}: ${half.line}`);
const snapshot = half.summary.histograms?.complete;
if (!snapshot || snapshot.count === 0) throw new Error("the run summary has no complete-latency histogram");
const complete = Histogram.from(snapshot);
const p50 = complete.quantile(0.5);
const p99 = complete.quantile(0.99);
console.log(`max rate, unthrottled, ${COUNT} roots: ${max.rate} roots/s`);
console.log(`throttled to ${rate}/s, ${rate * SECONDS} roots: ${half.rate} roots/s achieved (${(half.rate / max.rate).toFixed(2)} x max)`);
console.log(`complete latency there, all ${complete.count} roots: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${complete.max.toFixed(2)} ms`);
const verdict = (ms: number) => (ms <= TARGET_P99_MS ? "yes" : "NO");
if (warm) {
  const steady = since(snapshot, warm);
  const sp99 = steady.quantile(0.99);
  console.log(`complete latency there, the ${steady.count} roots after the first ${rate * WARMUP_S} (${WARMUP_S} s worth): p50 ${steady.quantile(0.5).toFixed(2)} ms, p99 ${sp99.toFixed(2)} ms`);
  console.log(`p99 <= ${TARGET_P99_MS} ms: whole run ${verdict(p99)}, without the first ${WARMUP_S} s ${verdict(sp99)}`);
} else {
  console.log(`p99 <= ${TARGET_P99_MS} ms: whole run ${verdict(p99)} (no steady-state figure: the run ended before ${rate * WARMUP_S} roots completed)`);
}
