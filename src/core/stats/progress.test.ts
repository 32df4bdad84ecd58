import { describe, expect, test } from "bun:test";
import { completedPerSecond, fitWidth, formatCount, formatProgress, formatRate, progressMode, type ProgressSample } from "./progress.ts";

const sample = (s: Partial<ProgressSample>): ProgressSample => ({ read: 0, completed: 0, inflight: 0, retried: 0, dead_lettered: 0, seconds: 0, ...s });

describe("formatCount", () => {
  test("thousands separators, rounded, whatever the locale", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(999)).toBe("999");
    expect(formatCount(1000)).toBe("1,000");
    expect(formatCount(120_000)).toBe("120,000");
    expect(formatCount(1_234_567_890)).toBe("1,234,567,890");
    expect(formatCount(23_399.6)).toBe("23,400");
    expect(formatCount(-1500)).toBe("-1,500");
  });
});

describe("formatRate", () => {
  test("one decimal below 10/s, separated integers above, never negative", () => {
    expect(formatRate(0)).toBe("0");
    expect(formatRate(-3)).toBe("0");
    expect(formatRate(0.5)).toBe("0.5");
    expect(formatRate(9.94)).toBe("9.9");
    expect(formatRate(10)).toBe("10");
    expect(formatRate(23_400.4)).toBe("23,400");
  });
});

describe("completedPerSecond", () => {
  test("the completed delta over the topology's elapsed seconds between two samples", () => {
    expect(completedPerSecond(sample({ completed: 118_500, seconds: 12 }), sample({ completed: 71_700, seconds: 10 }))).toBe(23_400);
  });

  test("the first sample: the average since the topology started", () => {
    expect(completedPerSecond(sample({ completed: 5000, seconds: 2.5 }), null)).toBe(2000);
    expect(completedPerSecond(sample({ completed: 0, seconds: 0 }), null)).toBe(0);
  });

  test("no time passed, or a counter that went back: 0, not Infinity or a negative rate", () => {
    expect(completedPerSecond(sample({ completed: 10, seconds: 4 }), sample({ completed: 5, seconds: 4 }))).toBe(0);
    expect(completedPerSecond(sample({ completed: 10, seconds: 6 }), sample({ completed: 50, seconds: 4 }))).toBe(0);
  });
});

describe("formatProgress", () => {
  test("every field, separated, with the rate since the previous line", () => {
    const prev = sample({ read: 72_000, completed: 71_700, seconds: 10 });
    const next = sample({ read: 120_000, completed: 118_500, inflight: 1500, retried: 3, dead_lettered: 1, seconds: 12 });
    expect(formatProgress(next, prev)).toBe("progress: read 120,000 · completed 118,500 (23,400/s) · in flight 1,500 · retried 3 · dead-lettered 1");
  });

  test("the first line, before anything was read", () => {
    expect(formatProgress(sample({}), null)).toBe("progress: read 0 · completed 0 (0/s) · in flight 0 · retried 0 · dead-lettered 0");
  });
});

describe("fitWidth", () => {
  const line = "progress: read 120,000 · completed 118,500 (23,400/s) · in flight 1,500 · retried 0 · dead-lettered 0";

  test("a line narrower than the terminal is left alone; one column stays free", () => {
    expect(fitWidth(line, 200)).toBe(line);
    expect(fitWidth(line, line.length + 1)).toBe(line);
    expect(fitWidth(line, undefined)).toBe(line);
  });

  test("a wider one is cut to columns - 1 characters, ending in an ellipsis", () => {
    const cut = fitWidth(line, 80);
    expect(cut.length).toBe(79);
    expect(cut.endsWith("…")).toBe(true);
    expect(line.startsWith(cut.slice(0, -1))).toBe(true);
    expect(fitWidth(line, line.length).length).toBe(line.length - 1);
  });
});

describe("progressMode", () => {
  test("by default: redrawn on a terminal, nothing otherwise (log files, CI)", () => {
    expect(progressMode({ isTTY: true })).toBe("redraw");
    expect(progressMode({ isTTY: false })).toBe("off");
    expect(progressMode({ env: "", isTTY: false })).toBe("off");
    expect(progressMode({ env: "maybe", isTTY: true })).toBe("redraw");
  });

  test("TEMPEST_PROGRESS=1 forces full lines off a terminal; =0 turns it off on one", () => {
    expect(progressMode({ env: "1", isTTY: false })).toBe("lines");
    expect(progressMode({ env: " TRUE ", isTTY: false })).toBe("lines");
    expect(progressMode({ env: "1", isTTY: true })).toBe("redraw");
    expect(progressMode({ env: "0", isTTY: true })).toBe("off");
    expect(progressMode({ env: "false", isTTY: true })).toBe("off");
  });

  test("--progress / --no-progress win over the environment", () => {
    expect(progressMode({ flag: true, env: "0", isTTY: false })).toBe("lines");
    expect(progressMode({ flag: false, env: "1", isTTY: true })).toBe("off");
    expect(progressMode({ flag: true, isTTY: true })).toBe("redraw");
  });
});
