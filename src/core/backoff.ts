/**
 * The one backoff formula of tempest: the pipeline's retries, the task worker's reconnects,
 * the Redis client's reconnects, the supervise restart policy and `tempest run` all use it,
 * so "exponential with a cap" means the same thing everywhere.
 */
export interface BackoffRules {
  /** Delay before the first retry. */
  initialMs: number;
  /** No delay is ever longer than this. */
  maxMs: number;
  /** Each retry waits `factor` times longer than the one before (>= 1). */
  factor: number;
  /**
   * Fraction of the delay taken off at random (0 = none, 0.1 = up to 10 % shorter), so many
   * processes that failed together do not retry together. Jitter only shortens: the cap holds.
   */
  jitter?: number;
}

/**
 * Delay in ms before retry `attempt` (1 = the first retry):
 * `min(maxMs, initialMs × factor^(attempt − 1)) × (1 − jitter × random)`, not rounded
 * (a fractional factor gives fractional ms; timers round them anyway).
 * `random` is a number in [0, 1) the caller draws (a seeded generator keeps policies pure).
 */
export function backoff(rules: BackoffRules, attempt: number, random = 0): number {
  const { initialMs, maxMs, factor } = rules;
  const k = Math.max(1, Math.floor(attempt));
  if (initialMs <= 0 || maxMs <= 0) return 0;
  // factor^(k-1) overflows to Infinity for large k; min() then returns the cap.
  const base = Math.min(maxMs, initialMs * Math.pow(Math.max(1, factor), k - 1));
  const jitter = Math.min(1, Math.max(0, rules.jitter ?? 0));
  return base * (1 - jitter * Math.min(1, Math.max(0, random)));
}

/**
 * A stateful helper over `backoff()` for I/O loops: `next()` gives the delay of the next
 * retry and counts it; `reset()` after a success starts again from `initialMs`.
 */
export function createBackoff(rules: BackoffRules, random: () => number = Math.random): { next(): number; reset(): void; readonly attempt: number } {
  let attempt = 0;
  return {
    next: () => backoff(rules, ++attempt, random()),
    reset: () => { attempt = 0; },
    get attempt() { return attempt; },
  };
}
