/**
 * A latency histogram with log-spaced buckets (5% apart): constant memory, O(1) record,
 * quantiles accurate to a few percent — what a p50/p99 in a summary needs.
 */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
const MIN_MS = 0.001;

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  max = 0;

  record(ms: number): void {
    const v = Math.max(ms, MIN_MS);
    const bucket = Math.ceil(Math.log(v / MIN_MS) / LOG_GROWTH);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.count++;
    if (v > this.max) this.max = v;
  }

  /** The q-quantile (0..1) in ms, 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket) ?? 0;
      if (seen >= rank) return Math.min(this.max, MIN_MS * GROWTH ** bucket);
    }
    return this.max;
  }
}
