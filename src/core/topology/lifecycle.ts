/**
 * The topology's lifecycle, sans-IO: `next(state, event, now) → { state, log? }`.
 *
 * - No I/O, no timers, no clock: time comes in as `now` (ms, the role's monotonic clock).
 * - `next` is the only function that changes a lifecycle; the other exports only read it. A
 *   state is never mutated: a change is a new object, and an event that changes nothing returns
 *   the SAME object (the caller may compare with `===`), with no log.
 * - The role (roles/topology/service.ts) sends the events and carries out what a change means:
 *   on entering `done` it flushes acks, sends `shutdown` to its tasks, closes its server and its
 *   source, and resolves `finished`. It says every `log` it is given.
 * - The facts the rules read (roots in flight, sessions, whether the source is exhausted) come in
 *   the events: this module does not know the pipeline or the source.
 *
 * States:
 * - `starting`:  listening; nothing delivered yet (tasks connecting is start-up, not work).
 * - `running`:   the first delivery went out; throughput is measured from `since`, its time.
 * - `draining`:  a stop was asked: nothing new is read from the source, what is in flight may
 *                finish until `deadline`; no new task may join.
 * - `finishing`: nothing is left to do but dead-letter writes (each acks its message at the
 *                source, which must not close before): `done` once they have settled. It comes
 *                from `starting` or `running` (the source is exhausted; `deadline` null) or from
 *                `draining` (it keeps the stop's `deadline`, which still ends it).
 * - `done`:      finished, for good: `stopped` says whether a stop was asked on the way.
 *
 * Not a state: whether the source poll loop is running (the role's `pumping`). It is a guard
 * against two overlapping async loops, which is how the role interleaves its I/O, and a poll can
 * be out in every state (a stop comes while one awaits the source; its messages are stepped
 * after). The one rule that needs it, "never finish while a poll is out" (what it brings is not
 * counted yet), reads it as a fact of the `check` event.
 */

/**
 * In every state, `since` is when throughput is measured from (the start, then the first
 * delivery). Before `done`, `writes` counts the dead-letter writes not settled yet (they may be
 * out in any state), and `delivered` (draining, finishing) says whether a delivery went out.
 */
export type Lifecycle =
  | { readonly state: "starting"; readonly since: number; readonly writes: number }
  | { readonly state: "running"; readonly since: number; readonly writes: number }
  | { readonly state: "draining"; readonly since: number; readonly writes: number; readonly delivered: boolean; readonly deadline: number }
  | { readonly state: "finishing"; readonly since: number; readonly writes: number; readonly delivered: boolean; readonly deadline: number | null }
  | { readonly state: "done"; readonly since: number; readonly stopped: boolean };

export type LifecycleState = Lifecycle["state"];

export type LifecycleEvent =
  /** A delivery went out while `awaitsFirstDelivery`: throughput is measured from now. */
  | { type: "first_delivery" }
  /** stop(): `drain` lets what is in flight finish for `drainMs`; without it, it stays at the source. */
  | { type: "stop_requested"; reason: string; drain: boolean; drainMs: number; inflight: number }
  /** A dead letter is being written (and then acked) at the source. */
  | { type: "write_started" }
  /** That write and its ack have settled, either way. */
  | { type: "write_settled" }
  /**
   * After a batch of events (frames, a settled write, a poll, a stop): the facts the finishing
   * rules read. `polling`: a source poll is out; `sessions`: task sessions open; `inflight`: root
   * messages in flight (0 is idle); `exhausted`: a finite source handed out everything.
   */
  | { type: "check"; polling: boolean; sessions: number; inflight: number; exhausted: boolean }
  /** The role's periodic tick: the stop's deadline is looked at. */
  | { type: "tick"; inflight: number };

export interface LifecycleLog {
  level: "debug" | "info" | "warn";
  text: string;
}

export interface Transition {
  state: Lifecycle;
  /** What to say about the change; only when something changed. */
  log?: LifecycleLog;
}

export function initialLifecycle(now: number): Lifecycle {
  return { state: "starting", since: now, writes: 0 };
}

/** The one transition function: every change of the topology's lifecycle is decided here. */
export function next(s: Lifecycle, e: LifecycleEvent, now: number): Transition {
  if (s.state === "done") return { state: s }; // done is for good: every event is too late
  switch (e.type) {
    case "first_delivery":
      return firstDelivery(s, now);
    case "stop_requested":
      return stopRequested(s, e, now);
    case "write_started":
      return { state: { ...s, writes: s.writes + 1 } };
    case "write_settled":
      return { state: { ...s, writes: Math.max(0, s.writes - 1) } };
    case "check":
      return check(s, e);
    case "tick":
      return tick(s, e, now);
    default:
      return unhandled(e);
  }
}

/** True once `done`. */
export function isDone(s: Lifecycle): boolean {
  return s.state === "done";
}

/** True once a stop was asked (and after): no task may join, nobody missing is worth a warning. */
export function isStopping(s: Lifecycle): boolean {
  switch (s.state) {
    case "starting":
    case "running":
      return false;
    case "draining":
      return true;
    case "finishing":
      return s.deadline !== null;
    case "done":
      return s.stopped;
    default:
      return unhandled(s);
  }
}

/** True while the source may be read: before a stop and before `done`. */
export function readsSource(s: Lifecycle): boolean {
  return !isStopping(s) && s.state !== "done";
}

/** True while no delivery has gone out yet (the role sends `first_delivery` at its first one). */
export function awaitsFirstDelivery(s: Lifecycle): boolean {
  switch (s.state) {
    case "starting":
      return true;
    case "running":
    case "done":
      return false;
    case "draining":
    case "finishing":
      return !s.delivered;
    default:
      return unhandled(s);
  }
}

type Live = Exclude<Lifecycle, { state: "done" }>;

function firstDelivery(s: Live, now: number): Transition {
  const log: LifecycleLog = { level: "debug", text: "first delivery: throughput is measured from here" };
  switch (s.state) {
    case "starting":
      return { state: { state: "running", since: now, writes: s.writes }, log };
    case "running":
      return { state: s };
    case "draining":
    case "finishing":
      // Read before the stop, delivered after it (a task gave credits late): still the first.
      return s.delivered ? { state: s } : { state: { ...s, delivered: true, since: now }, log };
    default:
      return unhandled(s);
  }
}

/**
 * A stop says what it does with what is in flight. A drained stop while one is under way
 * changes nothing; a stop without drain always says so and moves the deadline to now.
 */
function stopRequested(s: Live, e: LifecycleEvent & { type: "stop_requested" }, now: number): Transition {
  const deadline = s.state === "draining" || s.state === "finishing" ? s.deadline : null;
  if (deadline !== null && e.drain) return { state: s };
  const log: LifecycleLog = {
    level: "info",
    text: e.drain ? `stopping (${e.reason}): no new messages; finishing ${e.inflight} in flight` : `stopping (${e.reason}): no new messages; ${e.inflight} in flight stay at the source`,
  };
  const at = Math.min(deadline ?? Infinity, now + (e.drain ? e.drainMs : 0));
  switch (s.state) {
    case "starting":
    case "running":
      return { state: { state: "draining", since: s.since, writes: s.writes, delivered: s.state === "running", deadline: at }, log };
    case "draining":
    case "finishing":
      return { state: { ...s, deadline: at }, log };
    default:
      return unhandled(s);
  }
}

/** Why the topology may be done, or null: the finishing rules. */
type Ready = "abandon" | "drained" | "exhausted" | null;

function ready(s: Live, e: LifecycleEvent & { type: "check" }): Ready {
  const stopping = isStopping(s);
  // Nobody is left to finish them: waiting for the drain deadline would only delay the exit.
  if (stopping && e.sessions === 0 && e.inflight > 0) return "abandon";
  if (e.inflight > 0) return null;
  if (stopping) return "drained";
  return e.exhausted ? "exhausted" : null;
}

function check(s: Live, e: LifecycleEvent & { type: "check" }): Transition {
  if (e.polling) return { state: s };
  const why = ready(s, e);
  if (why === null) {
    // Only a source whose `exhausted()` went back to false could undo it; kept so that the
    // rule is the same whether or not writes were pending when it was looked at.
    if (s.state !== "finishing") return { state: s };
    const back = base(s);
    return { state: back, log: { level: "debug", text: `${back.state} again: there is work after all` } };
  }
  if (s.writes > 0) {
    if (s.state === "finishing") return { state: s };
    const deadline = s.state === "draining" ? s.deadline : null;
    const delivered = s.state === "starting" ? false : s.state === "running" ? true : s.delivered;
    return {
      state: { state: "finishing", since: s.since, writes: s.writes, delivered, deadline },
      log: { level: "debug", text: `finishing (${describe(why, e)}): waiting for ${s.writes} dead-letter write(s)` },
    };
  }
  const done: Lifecycle = { state: "done", since: s.since, stopped: isStopping(s) };
  if (why === "abandon") {
    return { state: done, log: { level: "warn", text: `stopping with ${e.inflight} message(s) unfinished and no task connected; they stay unacked at the source` } };
  }
  return { state: done, log: { level: "debug", text: `done: ${describe(why, e)}` } };
}

function describe(why: Exclude<Ready, null>, e: { inflight: number }): string {
  switch (why) {
    case "abandon":
      return `${e.inflight} message(s) unfinished and no task connected`;
    case "drained":
      return "stopped, nothing in flight";
    case "exhausted":
      return "the source is exhausted and nothing is in flight";
    default:
      return unhandled(why);
  }
}

/** The state a `finishing` one came from, for when it is not finishing after all. */
function base(s: Live & { state: "finishing" }): Live {
  if (s.deadline !== null) return { state: "draining", since: s.since, writes: s.writes, delivered: s.delivered, deadline: s.deadline };
  return s.delivered ? { state: "running", since: s.since, writes: s.writes } : { state: "starting", since: s.since, writes: s.writes };
}

/** A stop's deadline passed: what is still in flight stays at the source, pending writes or not. */
function tick(s: Live, e: LifecycleEvent & { type: "tick" }, now: number): Transition {
  const deadline = s.state === "draining" || s.state === "finishing" ? s.deadline : null;
  if (deadline === null || now <= deadline) return { state: s };
  return {
    state: { state: "done", since: s.since, stopped: true },
    log: { level: "warn", text: `stopping with ${e.inflight} message(s) unfinished; they stay unacked at the source` },
  };
}

/** The `never` default of every switch here: a new event or state does not compile until handled. */
function unhandled(x: never): never {
  throw new Error(`lifecycle: unhandled ${JSON.stringify(x)}`);
}
