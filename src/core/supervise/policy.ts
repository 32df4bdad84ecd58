import { backoff } from "../backoff.ts";
import type { ProcessSpec } from "./config.ts";

/**
 * The restart policy of one supervised instance, as a pure function:
 * `step(state, event, now) → { state, actions, note }`. The supervisor role feeds it events
 * (a command, the child's exit, a timer) and carries out the actions; `now` is a monotonic
 * clock in ms. Nothing here spawns, signals or sleeps, so every rule is unit-tested.
 *
 * States:
 * - `starting`: a spawn was asked for; the role answers `spawned` or `spawn_failed` at once.
 * - `running`:  the process runs.
 * - `backoff`:  it exited and will be started again at `retryAt`.
 * - `stopping`: the stop signal went to its group; SIGKILL follows after `stopTimeoutMs`.
 * - `stopped`:  stopped by a command; only a command starts it again.
 * - `exited`:   it ended and the restart mode says to leave it (`never`, or a success under `on-failure`).
 * - `fatal`:    too many crashes in the window, or it cannot be spawned at all; only a command starts it.
 */
export type Phase = "starting" | "running" | "backoff" | "stopping" | "stopped" | "exited" | "fatal";

export type RestartRules = Pick<ProcessSpec, "restart" | "successCodes" | "backoff" | "limit" | "stopSignal" | "stopTimeoutMs">;

/** How a process ended: an exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export interface InstanceState {
  readonly rules: RestartRules;
  phase: Phase;
  /** Automatic restarts since the last start by a command. */
  restarts: number;
  /** When recent crashes happened (monotonic ms); only those inside `limit.windowMs` are kept. */
  crashes: number[];
  /**
   * Crashes in a row without a stable run (one of `backoff.resetAfterMs` or more) between them.
   * Backoff spreads a crash loop out until the window never holds `limit.restarts` of them; this
   * count still ends it: a process crashing every 1.5 s forever goes fatal.
   */
  unstable: number;
  /** Restarts scheduled since the last stable run; the next one is `backoff()` retry streak + 1. */
  streak: number;
  /** The next backoff delay before jitter. */
  delayMs: number;
  startedAt: number | null;
  retryAt: number | null;
  lastExit: ExitStatus | null;
  /** Why it is `fatal` or `exited`, for status. */
  reason: string | null;
  /** What a `stopping` instance does once it is gone: stay stopped, or start again (restart). */
  afterStop: "stop" | "start";
  /** SIGKILL already went out during this stop. */
  killed: boolean;
  /** PRNG state for the jitter, so that the function stays pure and tests are repeatable. */
  seed: number;
}

export type PolicyEvent =
  | { type: "start" } // a command (and the supervisor's own first start)
  | { type: "stop" }
  | { type: "restart" }
  | { type: "spawned" }
  | { type: "spawn_failed"; reason: string; retryable: boolean }
  /** The leader exited and its group has been swept. */
  | { type: "exited"; code: number | null; signal: string | null }
  /** The deadline of the last `timer` action passed. */
  | { type: "timer" };

export type PolicyAction =
  | { type: "spawn" }
  /** To the whole process group. */
  | { type: "signal"; signal: string }
  /** Replaces the instance's one timer; `at: null` cancels it. */
  | { type: "timer"; at: number | null };

export interface StepResult {
  state: InstanceState;
  actions: PolicyAction[];
  /** A human line for the log when something worth saying happened. */
  note?: string;
}

/** Backoff delays are drawn from [delay × (1 − JITTER), delay], so a cap is never exceeded. */
export const JITTER = 0.1;

export function initialState(rules: RestartRules, seed = 1): InstanceState {
  return {
    rules, phase: "stopped", restarts: 0, crashes: [], unstable: 0, streak: 0, delayMs: backoff(rules.backoff, 1),
    startedAt: null, retryAt: null, lastExit: null, reason: null, afterStop: "stop", killed: false,
    seed: seed >>> 0 || 1,
  };
}

export function step(s: InstanceState, e: PolicyEvent, now: number): StepResult {
  const same = (note?: string): StepResult => ({ state: s, actions: [], note });
  switch (e.type) {
    case "start":
      if (s.phase === "starting" || s.phase === "running") return same();
      if (s.phase === "stopping") return { state: { ...s, afterStop: "start" }, actions: [] };
      return launch(s);
    case "restart":
      if (s.phase === "starting" || s.phase === "running") return beginStop(s, now, "start");
      if (s.phase === "stopping") return { state: { ...s, afterStop: "start" }, actions: [] };
      return launch(s);
    case "stop":
      if (s.phase === "starting" || s.phase === "running") return beginStop(s, now, "stop");
      if (s.phase === "stopping") return { state: { ...s, afterStop: "stop" }, actions: [] };
      if (s.phase === "stopped") return same();
      return { state: { ...s, phase: "stopped", retryAt: null }, actions: [{ type: "timer", at: null }] };
    case "spawned":
      return s.phase === "starting" ? { state: { ...s, phase: "running", startedAt: now }, actions: [] } : same();
    case "spawn_failed":
      if (s.phase !== "starting") return same();
      if (e.retryable) return afterCrash({ ...s, startedAt: now }, now, e.reason);
      return { state: { ...s, phase: "fatal", reason: e.reason, startedAt: null }, actions: [], note: `cannot start: ${e.reason}` };
    case "exited":
      return onExit(s, { code: e.code, signal: e.signal }, now);
    case "timer":
      if (s.phase === "backoff") {
        return { state: { ...s, phase: "starting", restarts: s.restarts + 1, retryAt: null }, actions: [{ type: "spawn" }] };
      }
      if (s.phase === "stopping" && !s.killed) {
        return { state: { ...s, killed: true }, actions: [{ type: "signal", signal: "SIGKILL" }], note: `still running ${s.rules.stopTimeoutMs} ms after ${s.rules.stopSignal}: SIGKILL` };
      }
      return same();
  }
}

/** A start by a command: counters and the crash window begin afresh. */
function launch(s: InstanceState): StepResult {
  return {
    state: { ...s, phase: "starting", restarts: 0, crashes: [], unstable: 0, streak: 0, delayMs: backoff(s.rules.backoff, 1), retryAt: null, reason: null, afterStop: "stop", killed: false },
    actions: [{ type: "timer", at: null }, { type: "spawn" }],
  };
}

function beginStop(s: InstanceState, now: number, afterStop: "stop" | "start"): StepResult {
  return {
    state: { ...s, phase: "stopping", afterStop, killed: false },
    actions: [{ type: "signal", signal: s.rules.stopSignal }, { type: "timer", at: now + s.rules.stopTimeoutMs }],
  };
}

function onExit(s: InstanceState, exit: ExitStatus, now: number): StepResult {
  if (s.phase === "stopping") {
    const gone = { ...s, lastExit: exit, startedAt: null };
    if (s.afterStop === "start") return launch(gone);
    return { state: { ...gone, phase: "stopped", killed: false }, actions: [{ type: "timer", at: null }] };
  }
  if (s.phase !== "running" && s.phase !== "starting") return { state: s, actions: [] };
  const { rules } = s;
  const success = exit.signal === null && exit.code !== null && rules.successCodes.includes(exit.code);
  const ended = { ...s, lastExit: exit };
  if (rules.restart === "never" || (rules.restart === "on-failure" && success)) {
    return { state: { ...ended, phase: "exited", startedAt: null, reason: describeExit(exit) }, actions: [{ type: "timer", at: null }], note: `${describeExit(exit)}; not restarted (restart = "${rules.restart}")` };
  }
  return success ? scheduleRetry(ended, now, describeExit(exit)) : afterCrash(ended, now, describeExit(exit));
}

/**
 * A crash counts at any age of the process: the window slides over every crash, and a streak
 * of crashes without a stable run in between ends fatal too, however far backoff spreads it.
 */
function afterCrash(s: InstanceState, now: number, what: string): StepResult {
  const { limit } = s.rules;
  const { resetAfterMs } = s.rules.backoff;
  const crashes = [...s.crashes.filter((t) => now - t < limit.windowMs), now];
  const ranFor = s.startedAt === null ? 0 : now - s.startedAt;
  const unstable = ranFor >= resetAfterMs ? 1 : s.unstable + 1;
  const reason = crashes.length > limit.restarts
    ? `${crashes.length} crashes within ${formatMs(limit.windowMs)} (limit ${limit.restarts}); last: ${what}`
    : unstable > limit.restarts
      ? `${unstable} crashes in a row, none after running ${formatMs(resetAfterMs)} or more (limit ${limit.restarts}); last: ${what}`
      : null;
  if (reason) {
    return { state: { ...s, crashes, unstable, phase: "fatal", startedAt: null, retryAt: null, reason }, actions: [{ type: "timer", at: null }], note: `giving up: ${reason}` };
  }
  return scheduleRetry({ ...s, crashes, unstable }, now, what);
}

function scheduleRetry(s: InstanceState, now: number, what: string): StepResult {
  const rules = s.rules.backoff;
  const ranFor = s.startedAt === null ? 0 : now - s.startedAt;
  const streak = ranFor >= rules.resetAfterMs ? 1 : s.streak + 1;
  const [r, seed] = random(s.seed);
  const delay = Math.round(backoff({ ...rules, jitter: JITTER }, streak, r));
  const retryAt = now + delay;
  return {
    state: { ...s, phase: "backoff", startedAt: null, retryAt, seed, streak, delayMs: backoff(rules, streak + 1) },
    actions: [{ type: "timer", at: retryAt }],
    note: `${what}; restarting in ${formatMs(delay)}`,
  };
}

export function describeExit(exit: ExitStatus): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(2)} s`;
}

/** mulberry32: a uniform number in [0, 1) and the next seed. */
function random(seed: number): [number, number] {
  const next = (seed + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}
