import { fitWidth, formatProgress, type ProgressSample } from "../../core/stats/progress.ts";
import { timestamp, type TextSink } from "../log.ts";

/** Carriage return, then erase the whole line (ECMA-48 EL 2): the cursor is at column 0 of an empty line. */
const CLEAR_LINE = "\r\x1b[2K";
export const PROGRESS_INTERVAL_MS = 2_000;

/**
 * `tempest run`'s stderr with one status line under the log (the progress line on a terminal).
 * Every log line of the run goes through `write`: its own and each forwarded child line.
 *
 * Why clear-and-redraw rather than progress as ordinary lines on a terminal too: a line every
 * 2 s would push a quiet run's real log off the screen, which is what the progress line is
 * meant to spare. Clearing is robust here because one object owns every write to this stream:
 * a log line replaces the status line in a single write (erase it, the log line, the status
 * line again below), so no line is ever glued onto a half-drawn one, and a line that arrives
 * between two polls does not make the status line disappear until the next.
 */
export class StatusLine implements TextSink {
  private shown: string | null = null;

  constructor(private readonly out: TextSink & { columns?: number }) {}

  write(text: string): unknown {
    if (this.shown === null) return this.out.write(text);
    // A partial line (no "\n") would be glued to the status line drawn after it: draw it later.
    const redraw = text.endsWith("\n") ? this.shown : "";
    if (!redraw) this.shown = null;
    return this.out.write(`${CLEAR_LINE}${text}${redraw}`);
  }

  /** Draws `line` in place of the previous status line, cut to the terminal's width. */
  show(line: string): void {
    this.shown = fitWidth(line, this.out.columns);
    this.out.write(`${CLEAR_LINE}${this.shown}`);
  }

  /** Erases the status line, if one is drawn, leaving the cursor at the start of an empty line. */
  clear(): void {
    if (this.shown === null) return;
    this.shown = null;
    this.out.write(CLEAR_LINE);
  }
}

export interface ProgressOptions {
  /** `redraw`: the status line of `status`; `lines`: one plain full line per interval. */
  mode: "redraw" | "lines";
  status: StatusLine;
  /** One stats request to the topology; a rejection or `undefined` skips that line. */
  sample: () => Promise<ProgressSample | undefined>;
  intervalMs?: number;
  /** Stamp full lines with an ISO time like the log lines around them (TEMPEST_LOG_TIMESTAMPS). */
  stamp?: boolean;
}

/**
 * Polls the topology every interval and shows a progress line, until `stop()`. A request
 * that fails or times out (the topology busy or finishing) skips its line and nothing else;
 * the next is scheduled only once one ends, so requests never pile up behind a slow
 * topology; the timer is unref'd, so it never keeps the process alive; nothing is drawn after
 * `stop()`, which also erases a drawn line (before the summary or an error is printed).
 */
export function startProgress(opts: ProgressOptions): { stop(): void } {
  const interval = opts.intervalMs ?? PROGRESS_INTERVAL_MS;
  let prev: ProgressSample | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const schedule = () => {
    timer = setTimeout(() => void tick(), interval);
    timer.unref();
  };
  const tick = async () => {
    try {
      const s = await opts.sample();
      if (stopped || !s) return;
      const line = formatProgress(s, prev);
      prev = s;
      if (opts.mode === "redraw") opts.status.show(line);
      else opts.status.write(`${opts.stamp ? timestamp() : ""}${line}\n`);
    } catch {
      // No answer this time: skip the line; the next rate spans both intervals.
    } finally {
      if (!stopped) schedule();
    }
  };
  schedule();

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      opts.status.clear();
    },
  };
}
