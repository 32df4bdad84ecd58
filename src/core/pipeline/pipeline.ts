/**
 * The pipeline state machine (DESIGN.md §5), sans-IO: `step(state, event, now) → effects[]`.
 *
 * - No I/O, no timers, no clock: time comes in as `now` (ms, from a MONOTONIC clock; every
 *   deadline assumes `now` never goes backwards).
 * - For speed the state is MUTATED IN PLACE by `step`, which is still the only function that
 *   changes it; the other exports only read it. Treat `PipelineState` as opaque.
 * - Effects are plain data, returned in the order they happened; the caller carries them out
 *   in that order. Payload buffers and `edge` arrays are passed through, never copied: do not
 *   mutate them.
 * - Sessions belong to a unit (a fused worker: one or more tasks, core/pipeline/fusion.ts). A
 *   delivery to any task of the unit may go to any of its sessions; what the worker runs inside
 *   comes back as the outputs that leave it, each tagged with the task that made it.
 *
 * - Order within one step: for a `done`, the children's deliveries, then a join delivery, then
 *   `ack`. Answers return no credits: a `credits` event does. For a `tick`: leases past their
 *   work deadline fail their roots (`retry`/`dead_letter`), then lapsed leases are re-sent, then
 *   roots restart after their backoff.
 * - Waiting is not failing: nothing times out while it waits in a queue, for a session or for a
 *   join. A lease times out when now > leasedAt + timeoutMs, and lapses (requeued for another
 *   session) when now > max(leasedAt, the session's last frame) + leaseMs. A retry starts on the
 *   first tick with now >= failedAt + delay.
 * - A message that kills or hangs its worker: what a session held when it closed or went silent
 *   comes back as suspects, which run one per session with nothing else beside them, so the
 *   next stop names its message; a delivery that was all its session held at
 *   CRASHES_BEFORE_DEAD_LETTER stops, with other work completed in between or none left, is
 *   dead-lettered without retries (BullMQ's maxStalledCount). A session silent past its lease
 *   gets no new work. The stall this costs a unit is bounded by SUSPECT_WAIT_MS.
 * - `config.encodeJoin` must not throw (it runs in the middle of a step).
 *
 * Cost per event is O(1) amortized plus the effects it produces, except: a join check walks the
 * ancestors of each unresolved join of the root; `tick` visits every session once; failing a
 * root visits its outstanding deliveries; closing a session visits its leases.
 */
import { backoff } from "../backoff.ts";
import { Deque } from "../deque.ts";
import { LeaseIndex } from "./_leases.ts";
import { compileGraph, type Graph, type GraphTask } from "./_graph.ts";
import type { AttemptRecord, Effect, Event, PipelineConfig, PipelineStats, TaskStats } from "./types.ts";

/** `state.out` outside a step: pushing to it throws, so no effect can be produced out of a step. */
const NO_STEP: Effect[] = Object.freeze([]) as unknown as Effect[];

/** A delivery whose lease lapsed this many times (its sessions went silent holding it) fails its root. */
export const LAPSES_BEFORE_FAILING = 3;
/**
 * A delivery that was all its session held when the session closed or went silent this many
 * times, with the worker's task completing other work in between (or with no other work left
 * to tell it from), is taken for what kills or hangs its worker: its root is dead-lettered
 * without retries (as BullMQ fails a job that stalled more than maxStalledCount), since each
 * retry would cost another crash and a crash loop ends the run. While other messages wait and
 * none completes, the worker may be what is broken: nothing is blamed, and a crash loop stops
 * the run with the messages left at the source.
 */
export const CRASHES_BEFORE_DEAD_LETTER = 2;
/**
 * Suspects make a unit's sessions take nothing else, one suspect each at a time. A unit whose
 * suspects could not go out for this long (its sessions stay busy, e.g. with a hanging call)
 * sends them as ordinary work, and a suspect that ran alone this long without closing its
 * session is not what crashes it quickly: its session takes other work again. So a crash stalls
 * a unit for at most about this long.
 */
export const SUSPECT_WAIT_MS = 2000;
const DEFAULT_READ_AHEAD = 64;
/** A later task's queue may hold this many read-aheads before the source is read no more. */
export const DOWNSTREAM_QUEUE_FACTOR = 4;

/** Delivery states. A delivery that is answered, requeued (replaced) or dropped becomes GONE. */
const QUEUED = 0;
const LEASED = 1;
const GONE = 2;
/** Queued as a suspect: its session closed while holding it, so it runs alone (see pumpSuspects). */
const SUSPECT = 3;
/** Queued as a suspect that already closed a session alone: it waits until other work has run (see promote). */
const ON_PROBATION = 4;

/** A delivery's closes of a session that held it alone, and its unit's completions at the last one. */
interface CrashRecord {
  readonly count: number;
  readonly completions: number;
}

/** A root runs an attempt unless it waits for its retry time (in the backoff heap). */
function isRunning(r: Root): boolean {
  return r.failures === null || !r.failures.waiting;
}

/**
 * One delivery. Eight fields, not nine: Bun's objects grow from 72 to 104 bytes at the ninth,
 * and a root in flight holds one (DESIGN.md §5: memory per root is bounded and measured), so
 * the state and the position in its root share `bits`.
 */
class Delivery {
  private bits = QUEUED;
  session: Session | null = null;
  leasedAt = 0;
  get state(): number {
    return this.bits & 7;
  }
  set state(v: number) {
    this.bits = (this.bits & ~7) | v;
  }
  /** Position in its root's live deliveries (swap-remove keeps it O(1)). */
  get rootIdx(): number {
    return this.bits >>> 3;
  }
  set rootIdx(i: number) {
    this.bits = (i << 3) | (this.bits & 7);
  }
  constructor(
    readonly id: number,
    readonly root: Root,
    readonly task: number,
    readonly edge: [string, string],
    readonly payload: Uint8Array,
  ) {}
}

class Session {
  credits = 0;
  /** The `now` of its last frame: every lease is renewed by it. */
  heardAt = 0;
  /**
   * Its leases in lease order (the tick visits the oldest first). An entry whose lease ended
   * stays until it reaches the front or the list is compacted: see addLease.
   */
  readonly leaseOrder = new Deque<Delivery>(16);
  leaseCount = 0;
  endedInOrder = 0;
  /** True while the session sits in its unit's ready queue (open and credits > 0). */
  inReady = false;
  /** The suspect it holds alone: until that lease ends it takes nothing else (out of `ready`). */
  isolating: Delivery | null = null;
  constructor(
    readonly name: string,
    readonly unit: UnitState,
  ) {}
}

class TaskState {
  /** FIFO of deliveries waiting for a session; may hold GONE entries, skipped when popped. */
  readonly queue = new Deque<Delivery>();
  queuedLive = 0;
  deadInQueue = 0;
  /** Its deliveries waiting in its unit's suspect or probation queue. */
  waitingSuspects = 0;
  inflight = 0;
  handled = 0;
  errors = 0;
  constructor(readonly g: GraphTask) {}
}

/** A fused worker: its tasks share sessions. */
class UnitState {
  /** Sessions with credits, round-robin: served from the front, put back at the end. */
  readonly ready = new Deque<Session>(4);
  sessions = 0;
  /** Credits of all its sessions. */
  credits = 0;
  /** Deliveries waiting in the queues of its tasks. */
  queuedLive = 0;
  /**
   * Deliveries whose session closed while holding them, oldest crash first (may hold GONE
   * entries). While any waits, the unit's sessions take nothing else: each one that is empty
   * gets one suspect and holds it alone, so a crash then names the message that caused it.
   */
  readonly suspects = new Deque<Delivery>(4);
  suspectsLive = 0;
  /** When a suspect last arrived or went out (SUSPECT_WAIT_MS runs from it). */
  suspectsMovedAt = 0;
  /**
   * Suspects that closed a session alone once (may hold GONE entries). They do not hold the
   * unit up: other work runs first, and they join the suspects when the unit has nothing else
   * queued, or SUSPECT_WAIT_MS after the first of them came.
   */
  readonly probation = new Deque<Delivery>(4);
  probationLive = 0;
  probationSince = 0;
  /** Deliveries it answered `done`: other work ran between two crashes when this grew. */
  completions = 0;
  /** Downstream tasks first, so roots finish (and leave memory) before new ones start. */
  readonly tasks: TaskState[] = [];
  /** It hosts a root task: capacity() bounds its queue by its credits and the read-ahead. */
  hasRoot = false;
}

/** What a root keeps only when its topology resolves joins (a few topologies). */
class RootJoins {
  /** Outstanding deliveries per task index. */
  readonly outstanding: Int32Array;
  pending: number;
  readonly resolved: Uint8Array;
  /** Per join ordinal: outputs per parent position, created on the first output. */
  readonly buf: Array<Array<Uint8Array[] | undefined> | undefined>;
  constructor(taskCount: number, joinCount: number) {
    this.outstanding = new Int32Array(taskCount);
    this.pending = joinCount;
    this.resolved = new Uint8Array(joinCount);
    this.buf = new Array(joinCount).fill(undefined);
  }
}

/** What a root keeps only once it has failed an attempt. */
class RootFailures {
  /** Waiting for its retry (in the backoff heap), not running an attempt. */
  waiting = false;
  retries = 0;
  records: AttemptRecord[] = [];
  retryAt = 0;
  heapSeq = 0;
}

/**
 * A root message in flight. Kept small (DESIGN.md §5: memory per root is bounded and measured):
 * its outstanding deliveries are one field while there is one (a fused worker's case), join and
 * failure state exist only when needed.
 */
class Root {
  /** Outstanding (queued or leased) deliveries of the current attempt: live0, then liveMore. */
  live0: Delivery | null = null;
  liveMore: Delivery[] | null = null;
  readonly joins: RootJoins | null;
  failures: RootFailures | null = null;
  constructor(
    readonly id: string,
    readonly payload: Uint8Array,
    public attempt: number,
    readonly sourcedAt: number,
    taskCount: number,
    joinCount: number,
  ) {
    this.joins = joinCount > 0 ? new RootJoins(taskCount, joinCount) : null;
  }
}

function liveCount(r: Root): number {
  return r.live0 === null ? 0 : 1 + (r.liveMore?.length ?? 0);
}

function liveAt(r: Root, i: number): Delivery {
  return i === 0 ? r.live0! : r.liveMore![i - 1]!;
}

function liveSet(r: Root, i: number, d: Delivery): void {
  if (i === 0) r.live0 = d;
  else r.liveMore![i - 1] = d;
}

function livePush(r: Root, d: Delivery): void {
  d.rootIdx = liveCount(r);
  if (r.live0 === null) r.live0 = d;
  else (r.liveMore ??= []).push(d);
}

function liveClear(r: Root): void {
  r.live0 = null;
  r.liveMore = null;
}

/** Opaque pipeline state; create it with createPipeline and change it only through step. */
export class PipelineState {
  /** @internal */ readonly config: PipelineConfig;
  /** @internal */ readonly graph: Graph;
  /** @internal */ readonly tasks: TaskState[];
  /** @internal */ readonly units: UnitState[];
  /** @internal */ readonly sessions = new Map<string, Session>();
  /** @internal every root in flight, running or in backoff */
  readonly roots = new Map<string, Root>();
  /** @internal min-heap of roots in backoff by (retryAt, heapSeq) */
  readonly backoff: Root[] = [];
  /** @internal */ readonly readAhead: number;
  /** @internal */ readonly suspectWaitMs: number;
  /** @internal every leased delivery by id (the session's own check: isLeasedBy) */
  readonly leased = new LeaseIndex<Delivery>();
  /** @internal lapsed leases per delivery, carried to its requeued successor (rare: kept off Delivery to keep it small) */
  readonly lapses = new WeakMap<object, number>();
  /** @internal per delivery, carried likewise: closes of a session that held it and nothing else */
  readonly crashes = new WeakMap<object, CrashRecord>();
  /** @internal units to pump at the end of the step (a session became free for a suspect, or stopped isolating) */
  readonly pumpAfter: UnitState[] = [];
  /** @internal */ nextDelivery = 1;
  /** @internal */ nextHeapSeq = 0;
  /** @internal */ completed = 0;
  /** @internal */ retried = 0;
  /** @internal */ deadLettered = 0;
  /** @internal */ failed = 0;
  /** @internal step-local: the current `now` and the effects being collected */
  now = 0;
  /** @internal */ out: Effect[] = NO_STEP;

  /** @internal use createPipeline */
  constructor(config: PipelineConfig, graph: Graph) {
    this.config = config;
    this.graph = graph;
    this.readAhead = config.readAhead ?? DEFAULT_READ_AHEAD;
    this.suspectWaitMs = config.suspectWaitMs ?? SUSPECT_WAIT_MS;
    this.tasks = graph.tasks.map((g) => new TaskState(g));
    this.units = graph.units.map((members) => {
      const u = new UnitState();
      for (let i = members.length - 1; i >= 0; i--) u.tasks.push(this.tasks[members[i]!]!);
      u.hasRoot = members.some((m) => graph.roots.includes(m));
      return u;
    });
  }
}

/** Validates the configuration and builds an empty pipeline. Throws an Error on a bad config. */
export function createPipeline(config: PipelineConfig): PipelineState {
  const where = `pipeline "${config.topology}"`;
  const nonNegative = (name: string, v: number) => {
    if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${where}: ${name} must be a finite number >= 0, got ${v}`);
  };
  nonNegative("timeoutMs", config.timeoutMs);
  nonNegative("leaseMs", config.leaseMs);
  nonNegative("backoff.initialMs", config.backoff.initialMs);
  nonNegative("backoff.maxMs", config.backoff.maxMs);
  nonNegative("backoff.factor", config.backoff.factor);
  if (config.readAhead !== undefined) nonNegative("readAhead", config.readAhead);
  if (config.suspectWaitMs !== undefined) nonNegative("suspectWaitMs", config.suspectWaitMs);
  if (!(Number.isInteger(config.retry) && config.retry >= 0)) throw new Error(`${where}: retry must be an integer >= 0, got ${config.retry}`);
  if (!(Number.isInteger(config.maxPending) && config.maxPending >= 1)) throw new Error(`${where}: maxPending must be an integer >= 1, got ${config.maxPending}`);
  return new PipelineState(config, compileGraph(config.topology, config.tasks, config.units));
}

/**
 * Applies one event at time `now` (ms, monotonic) and returns its effects, in order, appended
 * to `out` (a caller on the hot path passes one array it empties after use). Mutates `state` in
 * place; it keeps no reference to `event` or `out`.
 */
export function step(state: PipelineState, event: Event, now: number, out: Effect[] = []): Effect[] {
  state.now = now;
  state.out = out;
  switch (event.type) {
    case "source":
      onSource(state, event.id, event.payload, event.attempt);
      break;
    case "session_open":
      onSessionOpen(state, event.session, event.task);
      break;
    case "credits":
      onCredits(state, event.session, event.n);
      break;
    case "heard":
      onHeard(state, event.session);
      break;
    case "done":
      onDone(state, event.session, event.delivery, event.outputs, event.producers);
      break;
    case "fail":
      onFail(state, event.session, event.delivery, event.error, event.where, event.task);
      break;
    case "session_closed":
      onSessionClosed(state, event.session);
      break;
    case "tick":
      onTick(state);
      break;
    default: {
      const never: never = event;
      void never;
    }
  }
  const later = state.pumpAfter;
  for (let i = 0; i < later.length; i++) pump(state, later[i]!);
  later.length = 0;
  state.out = NO_STEP;
  return out;
}

/**
 * How many new roots the source may be polled for (>= 0): below maxPending, and no more than
 * every root task's sessions can take now plus the read-ahead. 0 while any task has no
 * session: its messages would only wait, and a source's unread messages wait best at the source.
 */
export function capacity(state: PipelineState): number {
  let room = state.config.maxPending - state.roots.size;
  for (const r of state.graph.roots) {
    if (room <= 0) return 0;
    const t = state.tasks[r]!;
    const u = state.units[t.g.unit]!;
    const credits = u.credits;
    let leased = 0;
    for (const x of u.tasks) leased += x.inflight;
    const demand = credits + Math.min(state.readAhead, credits + leased) - t.queuedLive - t.waitingSuspects;
    room = Math.min(room, demand);
  }
  // Downstream too: a task with no worker, or whose queue holds more than its workers can take
  // soon, stops the reading (else a fast root fills every later queue up to maxPending, in
  // memory). So the first read waits for every task, as Storm activates its spouts only once
  // every worker is connected: the last processes to start do not share the cores with the
  // first messages.
  const margin = DOWNSTREAM_QUEUE_FACTOR * Math.max(state.readAhead, 1);
  for (const u of state.units) if (!u.hasRoot && (u.sessions === 0 || u.queuedLive + u.suspectsLive + u.probationLive > margin)) return 0;
  return Math.max(0, room);
}

/** Names of the tasks whose unit has no session open: work for them waits until one connects. */
export function tasksWithoutSession(state: PipelineState): string[] {
  const out: string[] = [];
  for (const t of state.tasks) if (state.units[t.g.unit]!.sessions === 0) out.push(t.g.name);
  return out;
}

/** Roots in flight, including those waiting for a retry. */
export function inflightRoots(state: PipelineState): number {
  return state.roots.size;
}

/** True when no root is in flight (sessions may still be open). */
export function isIdle(state: PipelineState): boolean {
  return state.roots.size === 0;
}

/** A plain-data snapshot of the counters. */
export function stats(state: PipelineState): PipelineStats {
  const tasks: Record<string, TaskStats> = {};
  for (const t of state.tasks) {
    tasks[t.g.name] = { queued: t.queuedLive + t.waitingSuspects, inflight: t.inflight, handled: t.handled, errors: t.errors };
  }
  return {
    roots: {
      inflight: state.roots.size,
      completed: state.completed,
      retried: state.retried,
      deadLettered: state.deadLettered,
      failed: state.failed,
    },
    tasks,
  };
}

/**
 * For tests: the physical size of every internal structure, to prove nothing is left behind.
 * @internal
 */
export function _inspect(state: PipelineState) {
  let leases = 0;
  const sessions: Record<string, { task: string; credits: number; leases: number }> = {};
  for (const s of state.sessions.values()) {
    leases += s.leaseCount;
    sessions[s.name] = { task: s.unit.tasks[s.unit.tasks.length - 1]!.g.name, credits: s.credits, leases: s.leaseCount };
  }
  let running = 0;
  for (const r of state.roots.values()) if (isRunning(r)) running++;
  return {
    roots: state.roots.size,
    running,
    backoff: state.backoff.length,
    leases,
    queueSlots: state.tasks.reduce((n, t) => n + t.queue.length, 0),
    leaseSlots: [...state.sessions.values()].reduce((n, s) => n + s.leaseOrder.length, 0),
    queuedLive: state.tasks.reduce((n, t) => n + t.queuedLive, 0),
    unitQueued: state.units.reduce((n, u) => n + u.queuedLive, 0),
    suspects: state.units.reduce((n, u) => n + u.suspectsLive, 0),
    suspectSlots: state.units.reduce((n, u) => n + u.suspects.length, 0),
    probation: state.units.reduce((n, u) => n + u.probationLive, 0),
    probationSlots: state.units.reduce((n, u) => n + u.probation.length, 0),
    inflight: state.tasks.reduce((n, t) => n + t.inflight, 0),
    sessions,
  };
}

// ---------------------------------------------------------------------------------------------
// Event handlers

function onSource(st: PipelineState, id: string, payload: Uint8Array, attempt: number | undefined): void {
  // A root already in flight with this id (e.g. a redis entry claimed again) is not started twice.
  if (st.roots.has(id)) return;
  const first = attempt !== undefined && Number.isInteger(attempt) && attempt >= 1 ? attempt : 1;
  const root = new Root(id, payload, first, st.now, st.tasks.length, st.graph.joins.length);
  st.roots.set(id, root);
  startAttempt(st, root);
}

function onSessionOpen(st: PipelineState, name: string, task: string): void {
  const t = st.graph.byName.get(task);
  if (t === undefined || st.sessions.has(name)) return;
  const unit = st.units[st.tasks[t]!.g.unit]!;
  const s = new Session(name, unit);
  s.heardAt = st.now;
  unit.sessions++;
  st.sessions.set(name, s);
}

function onCredits(st: PipelineState, name: string, n: number): void {
  const s = st.sessions.get(name);
  if (!s) return;
  heard(st, s);
  if (!(n >= 1)) return;
  addCredits(st, s, Math.floor(n));
}

function onHeard(st: PipelineState, name: string): void {
  const s = st.sessions.get(name);
  if (s) heard(st, s);
}

/** A frame from s renews its leases; a session that was passed over as silent is ready again. */
function heard(st: PipelineState, s: Session): void {
  s.heardAt = st.now;
  if (toReady(s)) st.pumpAfter.push(s.unit);
}

/** Puts s in its unit's ready queue when it can take work and is not there; true when it did. */
function toReady(s: Session): boolean {
  if (s.inReady || s.credits <= 0 || s.isolating !== null) return false;
  s.inReady = true;
  s.unit.ready.pushBack(s);
  return true;
}

/** Silent past its lease: it would only hold new work until that lapses. */
function isSilent(st: PipelineState, s: Session): boolean {
  return st.now - s.heardAt > st.config.leaseMs;
}

function onDone(st: PipelineState, name: string, id: number, outputs: Uint8Array[], producers: ArrayLike<number> | undefined): void {
  const s = st.sessions.get(name);
  if (!s) return;
  heard(st, s);
  const d = st.leased.get(id);
  if (d === undefined || !isLeasedBy(d, s)) return; // stale: requeued, or its root failed
  const t = st.tasks[d.task]!;
  release(st, s, d, t);
  t.handled++;
  s.unit.completions++;
  const root = d.root;
  removeLive(root, d);
  if (outputs.length > 0) {
    if (producers === undefined) fanOut(st, root, t.g, outputs, 0, outputs.length);
    else {
      // Outputs come grouped by the task that made them; fan out each group.
      const tasks = st.graph.tasks;
      let from = 0;
      for (let i = 1; i <= outputs.length; i++) {
        if (i === outputs.length || producers[i] !== producers[from]) {
          const g = tasks[producers[from]!];
          if (g !== undefined) fanOut(st, root, g, outputs, from, i);
          from = i;
        }
      }
    }
  }
  settle(st, root);
}

function onFail(st: PipelineState, name: string, id: number, error: string, where: string | undefined, task: number | undefined): void {
  const s = st.sessions.get(name);
  if (!s) return;
  heard(st, s);
  const d = st.leased.get(id);
  if (d === undefined || !isLeasedBy(d, s)) return;
  const t = st.tasks[d.task]!;
  release(st, s, d, t);
  const failed = (task !== undefined ? st.tasks[task] : undefined) ?? t;
  failed.errors++;
  removeLive(d.root, d);
  failRoot(st, d.root, `${failed.g.name}: ${error}`, where);
}

function onSessionClosed(st: PipelineState, name: string): void {
  const s = st.sessions.get(name);
  if (!s) return;
  st.sessions.delete(name);
  const u = s.unit;
  u.sessions--;
  if (s.inReady) {
    u.ready.retain((x) => x !== s);
    s.inReady = false;
  }
  u.credits -= s.credits;
  s.credits = 0;
  s.isolating = null;
  if (s.leaseCount > 0) {
    const held = leasesOf(s);
    for (const d of held) st.leased.delete(d.id);
    s.leaseOrder.clear();
    s.leaseCount = s.endedInOrder = 0;
    requeueSuspects(st, held, held.length === 1, false);
    pump(st, u);
  }
}

function onTick(st: PipelineState): void {
  const now = st.now;
  const { timeoutMs, leaseMs } = st.config;
  // Leases are in lease order, and both deadlines grow with leasedAt: scan each session's
  // oldest leases until one has neither. Collect first: failing a root changes the leases.
  let timedOut: Root[] | null = null;
  let lapsed: Array<[Session, Delivery[]]> | null = null;
  const wait = st.suspectWaitMs;
  for (const u of st.units) {
    if (u.suspectsLive > 0 && now > u.suspectsMovedAt + wait) releaseSuspects(st, u);
    if (u.probationLive > 0 && now > u.probationSince + wait) promote(st, u);
  }
  for (const s of st.sessions.values()) {
    if (s.isolating !== null && now > s.isolating.leasedAt + wait) stopIsolating(st, s);
    if (s.leaseCount === 0) continue;
    let mine: Delivery[] | null = null;
    const order = s.leaseOrder;
    for (let i = 0; i < order.length; i++) {
      const d = order.at(i);
      if (!isLeasedBy(d, s)) continue;
      if (now > d.leasedAt + timeoutMs) (timedOut ??= []).push(d.root);
      else if (now > Math.max(d.leasedAt, s.heardAt) + leaseMs) (mine ??= []).push(d);
      else break;
    }
    if (mine !== null) (lapsed ??= []).push([s, mine]);
  }
  // 1. Work past its deadline fails its root (before lapses, so it is not re-sent).
  if (timedOut !== null) {
    const reason = `timed out after ${timeoutMs} ms`;
    for (const root of timedOut) if (isRunning(root) && st.roots.get(root.id) === root && anyTimedOut(root, now, timeoutMs)) failRoot(st, root, reason);
  }
  // 2. Lapsed leases come back as suspects with a new id (run alone, as after a crash: a handler
  //    that hangs its worker is found the same way). The old session keeps its credit spent: its
  //    handler may still be busy until it answers (stale).
  if (lapsed !== null) {
    // Whether each session held its lapsed delivery alone is decided before any of them is
    // handled: failing one root must not make another session's lapse look like it held one.
    const batches = lapsed.map(([s, ds]) => {
      const held = ds.filter((d) => isLeasedBy(d, s));
      return { s, held, alone: held.length === 1 && s.leaseCount === 1 };
    });
    const touched = new Set<UnitState>();
    for (const { s, held, alone } of batches) {
      const still = held.filter((d) => isLeasedBy(d, s)); // an earlier batch may have failed its root
      for (const d of still) endLease(st, s, d);
      requeueSuspects(st, still, alone && still.length === 1, true);
      touched.add(s.unit);
    }
    for (const u of touched) pump(st, u);
  }

  // 3. Roots whose backoff is over restart from the source payload.
  const heap = st.backoff;
  while (heap.length > 0 && heap[0]!.failures!.retryAt <= now) {
    const root = heapPop(heap);
    root.attempt++;
    startAttempt(st, root);
  }
}

function anyTimedOut(root: Root, now: number, timeoutMs: number): boolean {
  for (let i = 0, n = liveCount(root); i < n; i++) {
    const d = liveAt(root, i);
    if (d.state === LEASED && now > d.leasedAt + timeoutMs) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Roots

function startAttempt(st: PipelineState, root: Root): void {
  if (root.failures !== null) root.failures.waiting = false;
  const g = st.graph;
  for (const r of g.roots) addDelivery(st, root, r, g.tasks[r]!.sourceEdge, root.payload);
  for (const r of g.roots) pump(st, st.units[g.tasks[r]!.unit]!);
}

/** Buffers outputs[from, to) for join children and creates one delivery per output for union children. */
function fanOut(st: PipelineState, root: Root, g: GraphTask, outputs: Uint8Array[], from: number, to: number): void {
  const uc = g.unionChildren;
  for (let c = 0; c < uc.length; c++) {
    const child = uc[c]!;
    const edge = g.unionEdges[c]!;
    for (let i = from; i < to; i++) addDelivery(st, root, child, edge, outputs[i]!);
    pump(st, st.units[st.tasks[child]!.g.unit]!);
  }
  const jc = g.joinChildren;
  for (let c = 0; c < jc.length; c++) {
    const ord = jc[c]!;
    const joinBuf = root.joins!.buf;
    let buf = joinBuf[ord];
    if (buf === undefined) {
      buf = new Array(st.graph.joins[ord]!.parents.length).fill(undefined);
      joinBuf[ord] = buf;
    }
    const pos = g.joinParentPos[c]!;
    let list = buf[pos];
    if (list === undefined) buf[pos] = list = [];
    for (let i = from; i < to; i++) list.push(outputs[i]!);
  }
}

/** Resolves the joins that can be resolved, then acks the root when nothing is left. */
function settle(st: PipelineState, root: Root): void {
  const joins = root.joins;
  if (joins !== null && joins.pending > 0) resolveJoins(st, root, joins);
  if (root.live0 === null && (joins === null || joins.pending === 0)) {
    st.out.push({ type: "ack", rootId: root.id, since: root.sourcedAt });
    st.roots.delete(root.id);
    st.completed++;
  }
}

/**
 * A join is resolved when no ancestor has a delivery outstanding and every join among its
 * ancestors is resolved. Joins are visited in topological order, so one pass resolves a chain.
 * (A delivery that entered a fused worker at an ancestor covers what the worker runs after it.)
 */
function resolveJoins(st: PipelineState, root: Root, rj: RootJoins): void {
  const joins = st.graph.joins;
  const resolved = rj.resolved;
  const outstanding = rj.outstanding;
  for (let k = 0; k < joins.length; k++) {
    if (resolved[k] === 1) continue;
    const j = joins[k]!;
    let ready = true;
    const anc = j.ancestors;
    for (let i = 0; i < anc.length; i++) {
      if (outstanding[anc[i]!]! > 0) {
        ready = false;
        break;
      }
    }
    if (!ready) continue;
    const ja = j.joinAncestors;
    for (let i = 0; i < ja.length; i++) {
      if (resolved[ja[i]!] === 0) {
        ready = false;
        break;
      }
    }
    if (!ready) continue;
    resolved[k] = 1;
    rj.pending--;
    const buf = rj.buf[k];
    if (buf === undefined) continue; // no parent produced anything: the branch ends here
    rj.buf[k] = undefined;
    const parts: Array<[string, Uint8Array[]]> = j.parents.map((p, i) => [p, buf[i] ?? []]);
    const t = st.tasks[j.task]!;
    addDelivery(st, root, j.task, t.g.joinEdge, st.config.encodeJoin(parts));
    pump(st, st.units[t.g.unit]!);
  }
}

/** Fails the current attempt: drops its deliveries, records why, then schedules a retry or dead-letters. */
function failRoot(st: PipelineState, root: Root, reason: string, where?: string, final = false): void {
  for (let i = 0, n = liveCount(root); i < n; i++) {
    const d = liveAt(root, i);
    if (d.state === QUEUED) dropQueued(st, st.tasks[d.task]!, d);
    else if (d.state === SUSPECT || d.state === ON_PROBATION) dropSuspect(st, d);
    else if (d.state === LEASED) {
      // The session's credit stays spent until it answers; its answer is then stale.
      endLease(st, d.session!, d);
      st.tasks[d.task]!.inflight--;
      d.state = GONE;
      d.session = null;
    }
  }
  liveClear(root);
  const rj = root.joins;
  if (rj !== null) {
    rj.outstanding.fill(0);
    rj.resolved.fill(0);
    rj.buf.fill(undefined);
    rj.pending = st.graph.joins.length;
  }
  const f = (root.failures ??= new RootFailures());
  f.records.push(where ? { attempt: root.attempt, error: reason, at: st.now, where } : { attempt: root.attempt, error: reason, at: st.now });
  st.failed++;
  const cfg = st.config;
  if (!final && root.attempt < cfg.retry + 1) {
    f.retries++;
    const b = cfg.backoff;
    const delayMs = backoff(b, f.retries);
    f.waiting = true;
    f.retryAt = st.now + delayMs;
    f.heapSeq = st.nextHeapSeq++;
    heapPush(st.backoff, root);
    st.retried++;
    st.out.push(where ? { type: "retry", rootId: root.id, attempt: root.attempt + 1, error: reason, delayMs, where } : { type: "retry", rootId: root.id, attempt: root.attempt + 1, error: reason, delayMs });
  } else {
    st.roots.delete(root.id);
    st.deadLettered++;
    st.out.push({ type: "dead_letter", rootId: root.id, payload: root.payload, error: reason, attempts: f.records });
  }
}

// ---------------------------------------------------------------------------------------------
// Deliveries, queues and sessions

function addDelivery(st: PipelineState, root: Root, task: number, edge: [string, string], payload: Uint8Array): void {
  const d = new Delivery(st.nextDelivery++, root, task, edge, payload);
  livePush(root, d);
  if (root.joins !== null) root.joins.outstanding[task]!++;
  const t = st.tasks[task]!;
  t.queue.pushBack(d);
  t.queuedLive++;
  st.units[t.g.unit]!.queuedLive++;
}

/** Removes an answered (or given up) delivery from its root's outstanding set. */
function removeLive(root: Root, d: Delivery): void {
  const i = d.rootIdx;
  const n = liveCount(root);
  if (i >= n || liveAt(root, i) !== d) return; // not in this attempt (its root failed and restarted)
  const lastIdx = n - 1;
  const last = liveAt(root, lastIdx);
  if (last !== d) {
    liveSet(root, i, last);
    last.rootIdx = i;
  }
  if (lastIdx === 0) root.live0 = null;
  else root.liveMore!.pop();
  if (root.joins !== null) root.joins.outstanding[d.task]!--;
}

function isLeasedBy(d: Delivery, s: Session): boolean {
  return d.state === LEASED && d.session === s;
}

/** Records a lease (d is LEASED to s already). Ended leases leave the order from its front, or all at once when they outnumber the live ones. */
function addLease(st: PipelineState, s: Session, d: Delivery): void {
  st.leased.set(d);
  const order = s.leaseOrder;
  while (order.length > 0 && !isLeasedBy(order.peekFront()!, s)) {
    order.popFront();
    s.endedInOrder--;
  }
  if (s.endedInOrder > 64 && s.endedInOrder > 2 * s.leaseCount) {
    order.retain((x) => isLeasedBy(x, s));
    s.endedInOrder = 0;
  }
  order.pushBack(d);
  s.leaseCount++;
}

/** Forgets a lease of s (its entry in the order is passed over from now on). Once per lease: a second call does nothing. */
function endLease(st: PipelineState, s: Session, d: Delivery): void {
  if (st.leased.get(d.id) !== d) return;
  st.leased.delete(d.id);
  s.leaseCount--;
  s.endedInOrder++;
  if (s.isolating === d) stopIsolating(st, s);
  else if (s.leaseCount === 0 && s.unit.suspectsLive > 0) st.pumpAfter.push(s.unit);
}

/** The session's live leases, oldest first. */
function leasesOf(s: Session): Delivery[] {
  const out: Delivery[] = [];
  const order = s.leaseOrder;
  for (let i = 0; i < order.length; i++) {
    const d = order.at(i);
    if (isLeasedBy(d, s)) out.push(d);
  }
  return out;
}

/** Ends a lease (the caller answers it). */
function release(st: PipelineState, s: Session, d: Delivery, t: TaskState): void {
  endLease(st, s, d);
  t.inflight--;
  d.state = GONE;
  d.session = null;
}

/** Ends a leased delivery (its lease already forgotten) and puts a new one, with a new id and what it carries, in its place in its root. */
function successor(st: PipelineState, old: Delivery, lapsed: boolean): Delivery {
  st.tasks[old.task]!.inflight--;
  old.state = GONE;
  old.session = null;
  const d = new Delivery(st.nextDelivery++, old.root, old.task, old.edge, old.payload);
  const before = st.lapses.get(old) ?? 0;
  if (lapsed || before > 0) st.lapses.set(d, before + (lapsed ? 1 : 0));
  const crashes = st.crashes.get(old);
  if (crashes !== undefined) st.crashes.set(d, crashes);
  d.rootIdx = old.rootIdx;
  liveSet(old.root, old.rootIdx, d);
  return d;
}

/**
 * Requeues what a session that closed or went silent held as suspects, in order. When it held
 * that one delivery alone, it is counted as what stopped the session and waits on probation;
 * at its CRASHES_BEFORE_DEAD_LETTER-th such stop, with other work completed since the last, its
 * root is dead-lettered. Several held: nobody is blamed (it could be any one's), and each runs
 * alone next. `lapsed`: the session went silent (counted toward LAPSES_BEFORE_FAILING too).
 */
function requeueSuspects(st: PipelineState, held: Delivery[], alone: boolean, lapsed: boolean): void {
  const fresh: Delivery[] = new Array(held.length);
  let guilty: Delivery | null = null;
  for (let i = 0; i < held.length; i++) {
    const d = successor(st, held[i]!, lapsed);
    fresh[i] = d;
    if (!alone) continue;
    const before = st.crashes.get(d);
    const u = st.units[st.tasks[d.task]!.g.unit]!;
    st.crashes.set(d, { count: (before?.count ?? 0) + 1, completions: u.completions });
    // Other work done since its last stop, or none left to tell it from: it is the cause.
    if (before !== undefined && before.count + 1 >= CRASHES_BEFORE_DEAD_LETTER && (u.completions > before.completions || unitIdle(st, u))) guilty = d;
  }
  // Suspects at the front, in their order (the last to stop a session comes back first); one
  // that stopped its session alone goes on probation, behind other work.
  for (let i = fresh.length - 1; i >= 0; i--) {
    const d = fresh[i]!;
    const t = st.tasks[d.task]!;
    const u = st.units[t.g.unit]!;
    t.waitingSuspects++;
    if (alone) {
      d.state = ON_PROBATION;
      if (u.probationLive++ === 0) u.probationSince = st.now;
      u.probation.pushBack(d);
    } else {
      d.state = SUSPECT;
      u.suspects.pushFront(d);
      u.suspectsLive++;
      u.suspectsMovedAt = st.now;
    }
  }
  if (guilty !== null && st.roots.get(guilty.root.id) === guilty.root && isRunning(guilty.root)) {
    const n = st.crashes.get(guilty)!.count;
    failRoot(st, guilty.root, `${st.tasks[guilty.task]!.g.name}: ${crashReason(n)}`, undefined, true);
  }
  if (!lapsed) return;
  // Held by LAPSES_BEFORE_FAILING silent sessions in turn: its root fails (and is retried).
  for (const d of fresh) {
    if (d.state !== SUSPECT && d.state !== ON_PROBATION) continue; // its root failed already
    if ((st.lapses.get(d) ?? 0) < LAPSES_BEFORE_FAILING) continue;
    if (st.roots.get(d.root.id) === d.root && isRunning(d.root)) failRoot(st, d.root, `${st.tasks[d.task]!.g.name}: held by ${LAPSES_BEFORE_FAILING} sessions in turn that went silent (no frame for ${st.config.leaseMs} ms)`);
  }
}

/** Nothing queued, suspected or leased in the unit (the caller's delivery is between queues). */
function unitIdle(st: PipelineState, u: UnitState): boolean {
  if (u.queuedLive > 0 || u.suspectsLive > 0 || u.probationLive > 0) return false;
  for (const t of u.tasks) if (t.inflight > 0) return false;
  return true;
}

/** Why a root is dead-lettered by the crash rule. */
export function crashReason(n: number): string {
  return `its worker died or hung ${n} times while it held this message and nothing else (a message that kills or hangs its worker is dead-lettered at once, not retried)`;
}

/** The unit's probation joins its suspects (it has nothing else queued, or they waited long enough). */
function promote(st: PipelineState, u: UnitState): void {
  for (let d = u.probation.popFront(); d !== undefined; d = u.probation.popFront()) {
    if (d.state !== ON_PROBATION) continue;
    d.state = SUSPECT;
    u.suspects.pushBack(d);
    u.suspectsLive++;
  }
  u.probationLive = 0;
  u.suspectsMovedAt = st.now;
  st.pumpAfter.push(u);
}

/** Gives each ready session that holds nothing one suspect, which it then holds alone. */
function pumpSuspects(st: PipelineState, u: UnitState): void {
  const ready = u.ready;
  for (let n = ready.length; n > 0 && u.suspectsLive > 0; n--) {
    const s = ready.popFront()!;
    if (isSilent(st, s)) {
      s.inReady = false; // back when heard
      continue;
    }
    if (s.leaseCount > 0) {
      ready.pushBack(s);
      continue;
    }
    let d = u.suspects.popFront()!;
    while (d.state !== SUSPECT) d = u.suspects.popFront()!;
    const t = st.tasks[d.task]!;
    u.suspectsLive--;
    t.waitingSuspects--;
    u.suspectsMovedAt = st.now;
    s.inReady = false;
    s.isolating = d;
    leaseTo(st, s, d, t);
  }
  if (u.suspectsLive === 0) u.suspects.clear();
}

/** The session takes other work again (its suspect ended, or ran long without a crash). */
function stopIsolating(st: PipelineState, s: Session): void {
  s.isolating = null;
  toReady(s);
  st.pumpAfter.push(s.unit);
}

/** The unit's waiting suspects become ordinary work at the front of their queues, in order (their crash counts stay). */
function releaseSuspects(st: PipelineState, u: UnitState): void {
  const live: Delivery[] = [];
  for (let d = u.suspects.popFront(); d !== undefined; d = u.suspects.popFront()) if (d.state === SUSPECT) live.push(d);
  for (let i = live.length - 1; i >= 0; i--) {
    const d = live[i]!;
    const t = st.tasks[d.task]!;
    d.state = QUEUED;
    t.waitingSuspects--;
    t.queue.pushFront(d);
    t.queuedLive++;
    u.queuedLive++;
  }
  u.suspectsLive = 0;
  st.pumpAfter.push(u);
}

function dropSuspect(st: PipelineState, d: Delivery): void {
  const t = st.tasks[d.task]!;
  const u = st.units[t.g.unit]!;
  t.waitingSuspects--;
  if (d.state === ON_PROBATION) {
    if (--u.probationLive === 0) u.probation.clear();
  } else if (--u.suspectsLive === 0) {
    u.suspects.clear();
    st.pumpAfter.push(u); // what waited behind the suspects may go now
  }
  d.state = GONE;
}

/** Leases d (popped from its queue) to s, which has a credit, and says so. */
function leaseTo(st: PipelineState, s: Session, d: Delivery, t: TaskState): void {
  d.state = LEASED;
  d.session = s;
  d.leasedAt = st.now;
  addLease(st, s, d);
  t.inflight++;
  s.credits--;
  s.unit.credits--;
  st.out.push({
    type: "deliver",
    session: s.name,
    delivery: d.id,
    rootId: d.root.id,
    edge: d.edge,
    attempt: d.root.attempt,
    payload: d.payload,
  });
}

/** Marks a queued delivery dropped; the queue skips it later and is compacted when mostly dead. */
function dropQueued(st: PipelineState, t: TaskState, d: Delivery): void {
  d.state = GONE;
  t.queuedLive--;
  st.units[t.g.unit]!.queuedLive--;
  t.deadInQueue++;
  if (t.queuedLive === 0) {
    t.queue.clear();
    t.deadInQueue = 0;
  } else if (t.deadInQueue > 64 && t.deadInQueue > t.queuedLive) {
    t.queue.retain((x) => x.state === QUEUED);
    t.deadInQueue = 0;
  }
}

function addCredits(st: PipelineState, s: Session, n: number): void {
  s.credits += n;
  s.unit.credits += n;
  toReady(s);
  pump(st, s.unit);
}

/** Hands queued deliveries of the unit's tasks to its sessions with credits, round-robin. */
function pump(st: PipelineState, u: UnitState): void {
  const ready = u.ready;
  if (ready.length === 0) return;
  if (u.suspectsLive > 0) {
    pumpSuspects(st, u);
    if (u.suspectsLive > 0) return; // the rest waits: sessions must empty to take the suspects
  }
  if (u.queuedLive === 0) {
    if (u.probationLive > 0) {
      promote(st, u);
      pumpSuspects(st, u);
    }
    return;
  }
  for (let k = 0; k < u.tasks.length && ready.length > 0; k++) {
    const t = u.tasks[k]!;
    const queue = t.queue;
    while (t.queuedLive > 0 && ready.length > 0) {
      const s = ready.peekFront()!;
      if (isSilent(st, s)) {
        // Back in the ready queue when heard.
        ready.popFront();
        s.inReady = false;
        continue;
      }
      let d = queue.popFront()!;
      while (d.state !== QUEUED) {
        t.deadInQueue--;
        d = queue.popFront()!;
      }
      t.queuedLive--;
      u.queuedLive--;
      leaseTo(st, s, d, t);
      if (ready.length > 1) {
        ready.popFront();
        if (s.credits > 0) ready.pushBack(s);
        else s.inReady = false;
      } else if (s.credits === 0) {
        ready.popFront();
        s.inReady = false;
      }
    }
    if (t.queuedLive === 0 && queue.length > 0) {
      queue.clear();
      t.deadInQueue = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backoff heap: min by (retryAt, heapSeq)

function before(a: Root, b: Root): boolean {
  const x = a.failures!;
  const y = b.failures!;
  return x.retryAt < y.retryAt || (x.retryAt === y.retryAt && x.heapSeq < y.heapSeq);
}

function heapPush(h: Root[], r: Root): void {
  let i = h.length;
  h.push(r);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!before(h[i]!, h[p]!)) break;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}

function heapPop(h: Root[]): Root {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
  return top;
}
