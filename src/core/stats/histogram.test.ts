import { expect, test } from "bun:test";
import { Histogram } from "./histogram.ts";

test("quantiles are within 5% of the true value", () => {
  const h = new Histogram();
  for (let i = 1; i <= 1000; i++) h.record(i);
  expect(h.count).toBe(1000);
  expect(Math.abs(h.quantile(0.5) - 500) / 500).toBeLessThan(0.05);
  expect(Math.abs(h.quantile(0.99) - 990) / 990).toBeLessThan(0.05);
  expect(h.quantile(1)).toBe(1000);
  expect(new Histogram().quantile(0.5)).toBe(0);
});

test("a snapshot travels as JSON and merges: two instances read as one", () => {
  const a = new Histogram();
  const b = new Histogram();
  for (let i = 1; i <= 500; i++) a.record(i);
  for (let i = 501; i <= 1000; i++) b.record(i);
  const merged = Histogram.from(JSON.parse(JSON.stringify(a.snapshot())));
  merged.merge(b.snapshot());
  expect(merged.count).toBe(1000);
  expect(merged.sum).toBe(500_500);
  expect(merged.max).toBe(1000);
  expect(Math.abs(merged.quantile(0.5) - 500) / 500).toBeLessThan(0.05);
});

test("cumulative counts at Prometheus bounds never overstate and end with the total", () => {
  const h = new Histogram();
  for (const ms of [0.5, 0.9, 2, 4, 8, 16, 100, 5000]) h.record(ms);
  const [le1, le10, le1000, inf] = h.cumulative([1, 10, 1000, Infinity]);
  expect(le1).toBe(2); // 0.5 and 0.9
  expect(le10).toBe(5); // + 2, 4, 8
  expect(le1000).toBe(7); // + 16, 100
  expect(inf).toBe(8);
  // Monotonic for any bounds.
  const many = h.cumulative([0.001, 0.01, 0.1, 1, 3, 9, 27, 81, 243, 729, 2187, Infinity]);
  for (let i = 1; i < many.length; i++) expect(many[i]!).toBeGreaterThanOrEqual(many[i - 1]!);
});
