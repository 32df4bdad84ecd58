import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { diamondFiles } from "../helpers/projects.ts";
import { TEMPEST, cleanupTempDirs, runTempest, tempProject, waitFor } from "../helpers/tempest.ts";

afterAll(cleanupTempDirs);

/** Started on a terminal of their own: stopped here should a test fail before they end. */
const onTerminal = new Set<Subprocess>();
afterEach(async () => {
  for (const p of onTerminal) {
    p.kill("SIGKILL");
    await p.exited;
  }
  onTerminal.clear();
});

/**
 * The diamond fed by a generator at 500 messages/s: `count` messages take count/500 s however
 * fast the machine is, so a run lasts long enough for progress lines every 2 s. D says how
 * many it saw every 1,000, which the run forwards as log lines among the progress lines.
 */
function generatorProject(count: number): string {
  return tempProject({
    ...diamondFiles({
      tasks: { D: `import { defineTask } from "tempest";
let n = 0;
export default defineTask({ handle(msg, ctx) { if (++n % 1000 === 0) ctx.log.info("D saw " + n); } });
` },
    }),
    "Runtime.toml": `[topology.y.source]\ntype = "generator"\ncount = ${count}\nrate = 500\n`,
  });
}

const PROGRESS = /progress: read ([\d,]+) · completed ([\d,]+) \(([\d.,]+)\/s\) · in flight ([\d,]+) · retried ([\d,]+) · dead-lettered ([\d,]+)/;
const num = (s: string | undefined) => Number((s ?? "").replaceAll(",", ""));

function progressLines(stderr: string) {
  return stderr.split("\n").filter((l) => l.includes("progress:")).map((line) => {
    const m = PROGRESS.exec(line);
    if (!m) throw new Error(`not a progress line: ${JSON.stringify(line)}`);
    return { line, read: num(m[1]), completed: num(m[2]), rate: num(m[3]), inflight: num(m[4]), retried: num(m[5]), deadLettered: num(m[6]) };
  });
}

describe("tempest run: the progress line when stderr is not a terminal", () => {
  test("TEMPEST_PROGRESS=1: full stamped lines every 2 s with plausible numbers, no escapes; the summary as usual", async () => {
    const count = 5000;
    const r = await runTempest(["run", "y"], { cwd: generatorProject(count), env: { TEMPEST_PROGRESS: "1", TEMPEST_LOG_TIMESTAMPS: undefined }, timeoutMs: 90_000 });
    if (r.code !== 0) console.error(r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`y: read ${count}, completed ${count}, retried 0, dead-lettered 0`);
    const lines = progressLines(r.stderr);
    console.log(`${lines.length} progress lines, e.g. ${lines[1]?.line ?? lines[0]?.line}`);
    // ~10 s of work, a line every 2 s: at least two, even if a loaded topology missed one.
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) {
      // Whole lines, stamped like the log lines around them (not a terminal), never glued to one.
      expect(l.line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z progress: /);
      expect(l.read).toBeGreaterThanOrEqual(l.completed);
      expect(l.read).toBeLessThanOrEqual(count);
      expect(l.inflight).toBeLessThanOrEqual(l.read - l.completed);
      expect(l.retried).toBe(0);
      expect(l.deadLettered).toBe(0);
    }
    for (let i = 1; i < lines.length; i++) expect(lines[i]!.completed).toBeGreaterThanOrEqual(lines[i - 1]!.completed);
    expect(lines.at(-1)!.completed).toBeGreaterThan(lines[0]!.completed);
    expect(lines.some((l) => l.rate > 0)).toBe(true);
    expect(r.stderr).not.toContain("\x1b");
    expect(r.stderr).not.toContain("\r");
  }, 120_000);

  test("by default there is none; --no-progress beats TEMPEST_PROGRESS=1, --progress beats TEMPEST_PROGRESS=0", async () => {
    // Three runs of ~5 s side by side: each is long enough for two lines, as the last one shows.
    const dir = generatorProject(2500);
    const [unset, noFlag, flag] = await Promise.all([
      runTempest(["run", "y"], { cwd: dir, env: { TEMPEST_PROGRESS: undefined }, timeoutMs: 90_000 }),
      runTempest(["run", "y", "--no-progress"], { cwd: dir, env: { TEMPEST_PROGRESS: "1" }, timeoutMs: 90_000 }),
      runTempest(["run", "y", "--progress"], { cwd: dir, env: { TEMPEST_PROGRESS: "0" }, timeoutMs: 90_000 }),
    ]);
    for (const r of [unset, noFlag, flag]) {
      if (r.code !== 0) console.error(r.stderr);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("y: read 2500, completed 2500, retried 0, dead-lettered 0");
      expect(r.stderr).toContain("[D#0] D saw 2000");
    }
    expect(unset.stderr).not.toContain("progress:");
    expect(noFlag.stderr).not.toContain("progress:");
    expect(progressLines(flag.stderr).length).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

/**
 * What a terminal shows once `bytes` are written to it: CR moves to the line's start, ESC[2K
 * erases the line, LF starts a new one (enough for the progress line; lines never wrap here).
 */
function screen(bytes: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  let col = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes.startsWith("\x1b[2K", i)) {
      line = [];
      i += 3;
    } else if (bytes[i] === "\r") col = 0;
    else if (bytes[i] === "\n") {
      lines.push(line.join(""));
      line = [];
      col = 0;
    } else line[col++] = bytes[i]!;
  }
  if (line.length) lines.push(line.join(""));
  return lines;
}

describe("tempest run: the progress line on a terminal", () => {
  test("redrawn in place, cut to the width, never glued to a forwarded line, gone before the summary", async () => {
    let out = "";
    const decoder = new TextDecoder();
    // Defaults only: on a terminal the line is on, and log lines carry no time.
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
    delete env.TEMPEST_PROGRESS;
    delete env.TEMPEST_LOG_TIMESTAMPS;
    const proc = Bun.spawn([TEMPEST, "run", "y"], {
      cwd: generatorProject(3000),
      env,
      terminal: { cols: 80, rows: 40, data: (_t, d) => (out += decoder.decode(d, { stream: true })) },
    });
    onTerminal.add(proc);
    const killer = setTimeout(() => proc.kill("SIGKILL"), 90_000);
    const code = await proc.exited;
    clearTimeout(killer);
    await waitFor(() => out.includes("  D  "), "the summary's last line on the terminal");
    proc.terminal?.close();
    onTerminal.delete(proc);
    if (code !== 0) console.error(out);
    expect(code).toBe(0);

    // Drawn over and over at the start of the same line, each time cut to fit 80 columns.
    const drawn = out.split("\r\x1b[2K").filter((s) => s.startsWith("progress: ")).map((s) => s.split("\r")[0]!);
    expect(drawn.length).toBeGreaterThanOrEqual(2);
    for (const d of drawn) expect(d.length).toBeLessThanOrEqual(79);
    expect(drawn[0]).toMatch(/^progress: read [\d,]+ · completed [\d,]+ \([\d.,]+\/s\) · in flight/);

    // What stays on the screen: every log line whole, and no trace of the progress line.
    const shown = screen(out);
    expect(shown.filter((l) => l.includes("progress"))).toEqual([]);
    expect(shown).toContain("[D#0] D saw 1000");
    expect(shown).toContain("[D#0] D saw 2000");
    expect(shown.find((l) => l.startsWith("y: read"))).toStartWith("y: read 3000, completed 3000, retried 0, dead-lettered 0");
    for (const l of shown) expect(l).toMatch(/^(\[(topology|[A-D]#0)\] |y: read |  task |  [A-D] |$)/);
  }, 120_000);
});
