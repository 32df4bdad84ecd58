/**
 * A handler that never yields (an endless loop, a huge synchronous computation) blocks the
 * worker's event loop: it cannot answer, ping or stop, the topology drops it as silent after
 * 5 heartbeats, and the process would spin for ever, out of its supervisor's sight (it has not
 * exited), with its task's work stuck. So a thread beside the event loop watches a counter the
 * loop bumps; when the loop has not bumped it for `limitMs`, the thread says why and ends the
 * process with SIGKILL (a stop signal would wait for the very loop that is blocked), and its
 * supervisor restarts it as after any crash; what it held is requeued (core/pipeline).
 *
 * A pause of the whole process (SIGSTOP, a suspended machine) stops the thread too: a tick that
 * comes late restarts the count instead of ending a process that was only frozen.
 */
import { Worker } from "node:worker_threads";

const BUMP_MS = 250;
const CHECK_MS = 200;

/** The watcher's memory between two checks: the counter it last saw, since when, and its last check. */
export interface WatchState {
  seen: number;
  since: number;
  lastTick: number;
}

/**
 * One check at `now` with the loop's counter at `count`: how long the loop has been blocked when
 * that reaches `limitMs`, else null. A check that comes more than `lateMs` after the previous one
 * means the whole process was paused: the count starts again. Self-contained: the thread runs
 * its source text.
 */
export function blockedFor(w: WatchState, now: number, count: number, limitMs: number, lateMs: number): number | null {
  const late = now - w.lastTick > lateMs;
  w.lastTick = now;
  if (count !== w.seen || late) {
    w.seen = count;
    w.since = now;
    return null;
  }
  return now - w.since >= limitMs ? now - w.since : null;
}

const WATCHER = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const blockedFor = ${blockedFor.toString()};
const beats = new Int32Array(workerData.beats);
const w = { seen: Atomics.load(beats, 0), since: Date.now(), lastTick: Date.now() };
setInterval(() => {
  const ms = blockedFor(w, Date.now(), Atomics.load(beats, 0), workerData.limitMs, ${4 * CHECK_MS});
  if (ms === null) return;
  try {
    writeSync(2, "error: " + workerData.name + ": the event loop has been blocked for " + (ms / 1000).toFixed(1) + " s (a handler that never yields, e.g. an endless loop?): ending this process so that it is restarted\\n");
  } catch {}
  process.kill(process.pid, "SIGKILL");
}, ${CHECK_MS});
`;

export interface HangWatchdog {
  stop(): void;
}

/** Starts watching this process's event loop; `name` is how the last line names the worker. */
export function startHangWatchdog(opts: { limitMs: number; name: string }): HangWatchdog {
  const beats = new Int32Array(new SharedArrayBuffer(4));
  const thread = new Worker(WATCHER, { eval: true, workerData: { beats: beats.buffer, limitMs: opts.limitMs, name: opts.name } });
  thread.unref();
  const bump = setInterval(() => Atomics.add(beats, 0, 1), BUMP_MS);
  bump.unref();
  return {
    stop() {
      clearInterval(bump);
      void thread.terminate();
    },
  };
}
