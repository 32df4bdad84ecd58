import { describe, expect, test } from "bun:test";
import { backoff, createBackoff } from "./backoff";

describe("backoff", () => {
  const rules = { initialMs: 100, maxMs: 1_000, factor: 2 };

  test("grows by the factor from initialMs and stops at the cap", () => {
    expect([1, 2, 3, 4, 5, 6].map((k) => backoff(rules, k))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  test("a huge attempt number gives the cap, not Infinity or NaN", () => {
    expect(backoff(rules, 10_000)).toBe(1_000);
    expect(backoff({ ...rules, initialMs: 0 }, 10_000)).toBe(0);
  });

  test("attempt below 1 counts as the first retry; factor 1 is a constant delay", () => {
    expect(backoff(rules, 0)).toBe(100);
    expect(backoff({ ...rules, factor: 1 }, 7)).toBe(100);
  });

  test("jitter only shortens, so the cap is never exceeded", () => {
    const j = { ...rules, jitter: 0.1 };
    expect(backoff(j, 10, 0)).toBe(1_000);
    expect(backoff(j, 10, 0.5)).toBe(950);
    expect(Math.round(backoff(j, 10, 0.999999))).toBe(900);
    expect(backoff(j, 1, 0.5)).toBe(95);
  });

  test("createBackoff counts retries and resets after a success", () => {
    const b = createBackoff(rules, () => 0);
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
    expect(b.attempt).toBe(3);
    b.reset();
    expect(b.next()).toBe(100);
  });
});
