/**
 * A latency histogram with log-spaced buckets (5% apart): constant memory, O(1) record,
 * quantiles accurate to a few percent. It is the one implementation behind every latency figure
 * (DESIGN.md §12): the run summary and `status` read its quantiles, the director merges the
 * snapshots of every instance and `/metrics` exports them as Prometheus buckets.
 */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
const MIN_MS = 0.001;

/** A histogram as plain data (JSON): sparse `[bucket, count]` pairs, so it can travel and merge. */
export interface HistogramSnapshot {
  buckets: Array<[number, number]>;
  count: number;
  /** Sum of the recorded values, in ms. */
  sum: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  sum = 0;
  max = 0;

  static from(s: HistogramSnapshot): Histogram {
    const h = new Histogram();
    h.merge(s);
    return h;
  }

  record(ms: number): void {
    const v = Math.max(ms, MIN_MS);
    const bucket = Math.ceil(Math.log(v / MIN_MS) / LOG_GROWTH);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Adds another histogram's samples (another instance's, or an earlier snapshot). */
  merge(s: HistogramSnapshot): void {
    for (const [bucket, n] of s.buckets) this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + n);
    this.count += s.count;
    this.sum += s.sum;
    if (s.max > this.max) this.max = s.max;
  }

  snapshot(): HistogramSnapshot {
    return { buckets: [...this.counts].sort((a, b) => a[0] - b[0]), count: this.count, sum: this.sum, max: this.max };
  }

  /** The q-quantile (0..1) in ms, 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket) ?? 0;
      if (seen >= rank) return Math.min(this.max, upperMs(bucket));
    }
    return this.max;
  }

  /**
   * Cumulative counts at the given upper bounds (ms, ascending): how many samples were ≤ each
   * bound, as Prometheus buckets want them. A sample counts below a bound when its whole 5%
   * bucket does, so a count is never overstated; the last bound should be +Infinity.
   */
  cumulative(boundsMs: number[]): number[] {
    const sorted = [...this.counts].sort((a, b) => a[0] - b[0]);
    const out: number[] = [];
    let i = 0;
    let seen = 0;
    for (const bound of boundsMs) {
      while (i < sorted.length && upperMs(sorted[i]![0]) <= bound * (1 + 1e-9)) seen += sorted[i++]![1];
      out.push(bound === Infinity ? this.count : seen);
    }
    return out;
  }
}

function upperMs(bucket: number): number {
  return MIN_MS * GROWTH ** bucket;
}

/** A bucket's upper bound in ms: a sample recorded in it took at most this long. */
export function bucketMs(bucket: number): number {
  return upperMs(bucket);
}
