import { describe, expect, test } from "bun:test";
import type { ProgressSample } from "../../core/stats/progress.ts";
import { StatusLine, startProgress } from "./progress.ts";

const CLEAR = "\r\x1b[2K";

function fakeTerminal(columns?: number) {
  const writes: string[] = [];
  return { writes, out: { columns, write: (t: string) => writes.push(t) }, text: () => writes.join("") };
}

const sample = (completed: number, seconds: number): ProgressSample => ({ read: completed + 5, completed, inflight: 5, retried: 0, dead_lettered: 0, seconds });

async function until(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

describe("StatusLine", () => {
  test("with nothing drawn, log lines pass through untouched", () => {
    const t = fakeTerminal();
    const s = new StatusLine(t.out);
    s.write("[A#0] hello\n");
    s.clear();
    expect(t.text()).toBe("[A#0] hello\n");
  });

  test("a log line erases the drawn line and it is drawn again below, in one write", () => {
    const t = fakeTerminal();
    const s = new StatusLine(t.out);
    s.show("progress: 1");
    s.write("[A#0] hello\n");
    expect(t.writes).toEqual([`${CLEAR}progress: 1`, `${CLEAR}[A#0] hello\nprogress: 1`]);
    s.show("progress: 2");
    s.clear();
    s.clear();
    expect(t.writes.slice(2)).toEqual([`${CLEAR}progress: 2`, CLEAR]);
    // Once cleared, what follows (the summary) starts on an empty line, with nothing after it.
    s.write("done\n");
    expect(t.writes.at(-1)).toBe("done\n");
  });

  test("a partial line is not followed by the status line (it would be glued to it)", () => {
    const t = fakeTerminal();
    const s = new StatusLine(t.out);
    s.show("progress: 1");
    s.write("half a line");
    s.write(" and the rest\n");
    expect(t.text()).toBe(`${CLEAR}progress: 1${CLEAR}half a line and the rest\n`);
  });

  test("the line is cut to the terminal's width, so it never wraps", () => {
    const t = fakeTerminal(20);
    const s = new StatusLine(t.out);
    s.show("progress: read 120,000 · completed 118,500");
    expect(t.writes[0]).toBe(`${CLEAR}progress: read 120…`);
  });
});

describe("startProgress", () => {
  test("redraw: a line per interval with the rate between samples; stop() erases it and nothing follows", async () => {
    const t = fakeTerminal();
    const samples = [sample(100, 1), sample(300, 2), sample(600, 3)];
    let asked = 0;
    const p = startProgress({ mode: "redraw", status: new StatusLine(t.out), intervalMs: 10, sample: async () => samples[Math.min(asked++, samples.length - 1)] });
    await until(() => t.writes.length >= 3, "three lines");
    p.stop();
    const n = t.writes.length;
    await Bun.sleep(50);
    expect(t.writes.length).toBe(n);
    expect(t.writes[0]).toBe(`${CLEAR}progress: read 105 · completed 100 (100/s) · in flight 5 · retried 0 · dead-lettered 0`);
    expect(t.writes[1]).toContain("completed 300 (200/s)");
    expect(t.writes[2]).toContain("completed 600 (300/s)");
    expect(t.writes.at(-1)).toBe(CLEAR);
  });

  test("lines: plain full lines, stamped when asked, never an escape", async () => {
    const t = fakeTerminal();
    const p = startProgress({ mode: "lines", status: new StatusLine(t.out), intervalMs: 10, stamp: true, sample: async () => sample(10, 1) });
    await until(() => t.writes.length >= 2, "two lines");
    p.stop();
    expect(t.writes[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z progress: read 15 · completed 10 \(10\/s\) · in flight 5 · retried 0 · dead-lettered 0\n$/);
    expect(t.text()).not.toContain("\x1b");
    expect(t.text()).not.toContain("\r");
  });

  test("a request that fails or has no answer skips its line; the next rate spans the gap", async () => {
    const t = fakeTerminal();
    let asked = 0;
    const p = startProgress({
      mode: "lines",
      status: new StatusLine(t.out),
      intervalMs: 10,
      sample: async () => {
        asked++;
        if (asked === 1) return sample(100, 1);
        if (asked === 2) throw new Error("no answer within 1500 ms");
        if (asked === 3) return undefined;
        return sample(700, 4);
      },
    });
    await until(() => t.writes.length >= 2, "two lines");
    p.stop();
    expect(t.writes[0]).toContain("completed 100 (100/s)");
    expect(t.writes[1]).toContain("completed 700 (200/s)");
  });

  test("requests never overlap, and an answer that comes after stop() draws nothing", async () => {
    const t = fakeTerminal();
    let open = 0;
    let most = 0;
    let release!: () => void;
    let asked = 0;
    const p = startProgress({
      mode: "redraw",
      status: new StatusLine(t.out),
      intervalMs: 5,
      sample: async () => {
        asked++;
        most = Math.max(most, ++open);
        await new Promise<void>((r) => (release = r));
        open--;
        return sample(1, 1);
      },
    });
    await until(() => asked === 1, "the first request");
    await Bun.sleep(50); // ten intervals, while the first request is still waiting
    expect(asked).toBe(1);
    p.stop();
    release();
    await Bun.sleep(20);
    expect(most).toBe(1);
    expect(t.writes).toEqual([]);
  });
});
