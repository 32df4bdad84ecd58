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
