/**
 * The progress line of a long `tempest run` (DESIGN.md §12), as pure functions: what one line
 * says, given the topology's live stats now and at the previous line, and whether lines are
 * drawn at all. The polling and the terminal are in roles/local/progress.ts.
 */

/** What a progress line needs from a topology's stats answer (a TopologySummary has all of it). */
export interface ProgressSample {
  read: number;
  completed: number;
  inflight: number;
  retried: number;
  dead_lettered: number;
  /** Seconds since the topology started, by its own clock: rates use it, not the poller's. */
  seconds: number;
}

/** How progress is shown: redrawn in place (a terminal), one full line per interval, or not at all. */
export type ProgressMode = "redraw" | "lines" | "off";

/**
 * `--progress` / `--no-progress` first, then TEMPEST_PROGRESS (`1`/`true` on, `0`/`false`
 * off), else only on a terminal: a log file or CI output gets no line every 2 s unless asked.
 * Forced on where stderr is not a terminal, the lines are plain full lines (no escapes).
 */
export function progressMode(opts: { flag?: boolean; env?: string; isTTY: boolean }): ProgressMode {
  const v = opts.env?.trim().toLowerCase();
  const on = opts.flag ?? (v === "1" || v === "true" ? true : v === "0" || v === "false" ? false : opts.isTTY);
  if (!on) return "off";
  return opts.isTTY ? "redraw" : "lines";
}

/** An integer with thousands separators, the same on every machine: 120000 → `120,000`. */
export function formatCount(n: number): string {
  const rounded = Math.round(n);
  const digits = String(Math.abs(rounded)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return rounded < 0 ? `-${digits}` : digits;
}

/** A rate: one decimal below 10/s (a slow pipeline is not `0/s`), else a separated integer. */
export function formatRate(perSecond: number): string {
  if (perSecond <= 0) return "0";
  return perSecond < 10 ? perSecond.toFixed(1) : formatCount(perSecond);
}

/**
 * Messages completed per second between two samples; with no previous sample, since the
 * topology started (the first line's average). 0 when no time passed or the counter went
 * back (another topology instance answered).
 */
export function completedPerSecond(next: ProgressSample, prev: ProgressSample | null): number {
  const from = prev ?? { completed: 0, seconds: 0 };
  const dt = next.seconds - from.seconds;
  if (dt <= 0) return 0;
  return Math.max(0, next.completed - from.completed) / dt;
}

/** `progress: read 120,000 · completed 118,500 (23,400/s) · in flight 1,500 · retried 0 · dead-lettered 0` */
export function formatProgress(next: ProgressSample, prev: ProgressSample | null): string {
  return [
    `progress: read ${formatCount(next.read)}`,
    `completed ${formatCount(next.completed)} (${formatRate(completedPerSecond(next, prev))}/s)`,
    `in flight ${formatCount(next.inflight)}`,
    `retried ${formatCount(next.retried)}`,
    `dead-lettered ${formatCount(next.dead_lettered)}`,
  ].join(" · ");
}

/**
 * The line cut to fit a terminal `columns` wide (one column spare): a line that wraps cannot
 * be redrawn in place, since clearing the line only clears its last row.
 */
export function fitWidth(line: string, columns: number | undefined): string {
  if (!columns || columns < 2 || line.length < columns) return line;
  return `${line.slice(0, columns - 2)}…`;
}
