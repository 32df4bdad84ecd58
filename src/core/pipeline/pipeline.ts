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
 *
 * - Order within one step: for a `done`, the children's deliveries, then a join delivery, then
 *   `ack`, then the delivery taken by the credit the answer returned. For a `tick`: timeouts
 *   (`retry`/`dead_letter`), then expired leases re-sent, then roots restarting after backoff.
 * - Boundaries: a lease expires when now > leasedAt + leaseMs, an attempt times out when
 *   now > startedAt + timeoutMs, a retry starts on the first tick with now >= failedAt + delay.
 * - `config.encodeJoin` must not throw (it runs in the middle of a step).
 *
 * Cost per event is O(1) amortized plus the effects it produces, except: a join check walks the
 * ancestors of each unresolved join of the root; `tick` visits every session once; failing a
 * root visits its outstanding deliveries; closing a session visits its leases.
 */
import { backoff } from "../backoff.ts";
import { Deque } from "./_deque.ts";
import { compileGraph, type Graph, type GraphTask } from "./_graph.ts";
import type { AttemptRecord, Effect, Event, PipelineConfig, PipelineStats, TaskStats } from "./types.ts";

/** `state.out` outside a step: pushing to it throws, so no effect can be produced out of a step. */
const NO_STEP: Effect[] = Object.freeze([]) as unknown as Effect[];

/** Delivery states. A delivery that is answered, requeued (replaced) or dropped becomes GONE. */
const QUEUED = 0;
const LEASED = 1;
const GONE = 2;

/** Root states: RUNNING has an attempt in progress, BACKOFF waits for its retry time. */
const RUNNING = 0;
const BACKOFF = 1;

class Delivery {
  state = QUEUED;
  session: Session | null = null;
  deadline = 0;
  /** Position in root.live (swap-remove keeps it O(1)). */
  rootIdx = 0;
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
  /** Leased deliveries by id, in lease order (so in deadline order). */
  readonly leases = new Map<number, Delivery>();
  /** True while the session sits in its task's ready queue (open and credits > 0). */
  inReady = false;
  constructor(
    readonly name: string,
    readonly task: TaskState,
  ) {}
}

class TaskState {
  /** FIFO of deliveries waiting for a session; may hold GONE entries, skipped when popped. */
  readonly queue = new Deque<Delivery>();
  queuedLive = 0;
  deadInQueue = 0;
  /** Sessions with credits, round-robin: served from the front, put back at the end. */
  readonly ready = new Deque<Session>(4);
  inflight = 0;
  handled = 0;
  errors = 0;
  constructor(readonly g: GraphTask) {}
}

class Root {
  state = RUNNING;
  retries = 0;
  records: AttemptRecord[] | null = null;
  startedAt = 0;
  deadline = 0;
  retryAt = 0;
  heapSeq = 0;
  /** Outstanding (queued or leased) deliveries of the current attempt. */
  live: Delivery[] = [];
  /** Outstanding deliveries per task index; only kept when the topology has joins. */
  readonly outstanding: Int32Array | null;
  joinsPending: number;
  readonly joinResolved: Uint8Array | null;
  /** Per join ordinal: outputs per parent position, created on the first output. */
  readonly joinBuf: Array<Array<Uint8Array[] | undefined> | undefined> | null;
  /** Links of the running list (ordered by attempt start, so by deadline). */
  prev: Root | null = null;
  next: Root | null = null;
  constructor(
    readonly id: string,
    readonly payload: Uint8Array,
    public attempt: number,
    taskCount: number,
    joinCount: number,
  ) {
    this.joinsPending = joinCount;
    if (joinCount > 0) {
      this.outstanding = new Int32Array(taskCount);
      this.joinResolved = new Uint8Array(joinCount);
      this.joinBuf = new Array(joinCount).fill(undefined);
    } else {
      this.outstanding = null;
      this.joinResolved = null;
      this.joinBuf = null;
    }
  }
}

/** Opaque pipeline state; create it with createPipeline and change it only through step. */
export class PipelineState {
  /** @internal */ readonly config: PipelineConfig;
  /** @internal */ readonly graph: Graph;
  /** @internal */ readonly tasks: TaskState[];
  /** @internal */ readonly sessions = new Map<string, Session>();
  /** @internal every root in flight, running or in backoff */
  readonly roots = new Map<string, Root>();
  /** @internal */ runHead: Root | null = null;
  /** @internal */ runTail: Root | null = null;
  /** @internal min-heap of roots in backoff by (retryAt, heapSeq) */
  readonly backoff: Root[] = [];
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
    this.tasks = graph.tasks.map((g) => new TaskState(g));
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
  if (!(Number.isInteger(config.retry) && config.retry >= 0)) throw new Error(`${where}: retry must be an integer >= 0, got ${config.retry}`);
  if (!(Number.isInteger(config.maxPending) && config.maxPending >= 1)) throw new Error(`${where}: maxPending must be an integer >= 1, got ${config.maxPending}`);
  return new PipelineState(config, compileGraph(config.topology, config.tasks));
}

/**
 * Applies one event at time `now` (ms, monotonic) and returns the effects, in order.
 * Mutates `state` in place.
 */
export function step(state: PipelineState, event: Event, now: number): Effect[] {
  const out: Effect[] = [];
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
    case "done":
      onDone(state, event.session, event.delivery, event.outputs);
      break;
    case "fail":
      onFail(state, event.session, event.delivery, event.error, event.where);
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
  state.out = NO_STEP;
  return out;
}

/** How many new roots the source may be polled for: maxPending - roots in flight, >= 0. */
export function capacity(state: PipelineState): number {
  return Math.max(0, state.config.maxPending - state.roots.size);
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
    tasks[t.g.name] = { queued: t.queuedLive, inflight: t.inflight, handled: t.handled, errors: t.errors };
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
  let running = 0;
  for (let r = state.runHead; r; r = r.next) running++;
  let leases = 0;
  const sessions: Record<string, { task: string; credits: number; leases: number }> = {};
  for (const s of state.sessions.values()) {
    leases += s.leases.size;
    sessions[s.name] = { task: s.task.g.name, credits: s.credits, leases: s.leases.size };
  }
  return {
    roots: state.roots.size,
    running,
    backoff: state.backoff.length,
    leases,
    queueSlots: state.tasks.reduce((n, t) => n + t.queue.length, 0),
    queuedLive: state.tasks.reduce((n, t) => n + t.queuedLive, 0),
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
  const root = new Root(id, payload, first, st.tasks.length, st.graph.joins.length);
  st.roots.set(id, root);
  startAttempt(st, root);
}

function onSessionOpen(st: PipelineState, name: string, task: string): void {
  const t = st.graph.byName.get(task);
  if (t === undefined || st.sessions.has(name)) return;
  st.sessions.set(name, new Session(name, st.tasks[t]!));
}

function onCredits(st: PipelineState, name: string, n: number): void {
  const s = st.sessions.get(name);
  if (!s || !(n >= 1)) return;
  addCredits(st, s, Math.floor(n));
}

function onDone(st: PipelineState, name: string, id: number, outputs: Uint8Array[]): void {
  const s = st.sessions.get(name);
  if (!s) return;
  const d = s.leases.get(id);
  if (d) {
    const t = s.task;
    release(s, d);
    t.handled++;
    const root = d.root;
    removeLive(root, d);
    if (outputs.length > 0) fanOut(st, root, t.g, outputs);
    settle(st, root);
  }
  addCredits(st, s, 1);
}

function onFail(st: PipelineState, name: string, id: number, error: string, where?: string): void {
  const s = st.sessions.get(name);
  if (!s) return;
  const d = s.leases.get(id);
  if (d) {
    const t = s.task;
    release(s, d);
    t.errors++;
    removeLive(d.root, d);
    failRoot(st, d.root, `${t.g.name}: ${error}`, where);
  }
  addCredits(st, s, 1);
}

function onSessionClosed(st: PipelineState, name: string): void {
  const s = st.sessions.get(name);
  if (!s) return;
  st.sessions.delete(name);
  const t = s.task;
  if (s.inReady) {
    t.ready.retain((x) => x !== s);
    s.inReady = false;
  }
  s.credits = 0;
  if (s.leases.size > 0) {
    const held = [...s.leases.values()];
    s.leases.clear();
    requeueFront(st, held);
    pump(st, t);
  }
}

function onTick(st: PipelineState): void {
  const now = st.now;
  // 1. Root attempts past their deadline fail (before leases, so their deliveries are not re-sent).
  const reason = `timed out after ${st.config.timeoutMs} ms`;
  while (st.runHead !== null && now > st.runHead.deadline) failRoot(st, st.runHead, reason);

  // 2. Leases past their deadline go back to the front of their queue with a new id. The old
  //    session keeps its credit spent: its handler is still busy until it answers (stale).
  let touched: TaskState[] | null = null;
  for (const s of st.sessions.values()) {
    if (s.leases.size === 0) continue;
    let expired: Delivery[] | null = null;
    for (const d of s.leases.values()) {
      if (now > d.deadline) (expired ??= []).push(d);
      else break; // leases are in deadline order
    }
    if (expired === null) continue;
    for (const d of expired) s.leases.delete(d.id);
    requeueFront(st, expired);
    (touched ??= []).push(s.task);
  }
  if (touched !== null) for (const t of touched) pump(st, t);

  // 3. Roots whose backoff is over restart from the source payload.
  const heap = st.backoff;
  while (heap.length > 0 && heap[0]!.retryAt <= now) {
    const root = heapPop(heap);
    root.attempt++;
    startAttempt(st, root);
  }
}

// ---------------------------------------------------------------------------------------------
// Roots

function startAttempt(st: PipelineState, root: Root): void {
  root.state = RUNNING;
  root.startedAt = st.now;
  root.deadline = st.now + st.config.timeoutMs;
  linkRunning(st, root);
  const g = st.graph;
  for (const r of g.roots) addDelivery(st, root, r, g.tasks[r]!.sourceEdge, root.payload);
  for (const r of g.roots) pump(st, st.tasks[r]!);
}

/** Buffers outputs for join children and creates one delivery per output for union children. */
function fanOut(st: PipelineState, root: Root, g: GraphTask, outputs: Uint8Array[]): void {
  const uc = g.unionChildren;
  for (let c = 0; c < uc.length; c++) {
    const child = uc[c]!;
    const edge = g.unionEdges[c]!;
    for (let i = 0; i < outputs.length; i++) addDelivery(st, root, child, edge, outputs[i]!);
    pump(st, st.tasks[child]!);
  }
  const jc = g.joinChildren;
  for (let c = 0; c < jc.length; c++) {
    const ord = jc[c]!;
    const joinBuf = root.joinBuf!;
    let buf = joinBuf[ord];
    if (buf === undefined) {
      buf = new Array(st.graph.joins[ord]!.parents.length).fill(undefined);
      joinBuf[ord] = buf;
    }
    const pos = g.joinParentPos[c]!;
    const list = buf[pos];
    if (list === undefined) buf[pos] = outputs.slice();
    else for (let i = 0; i < outputs.length; i++) list.push(outputs[i]!);
  }
}

/** Resolves the joins that can be resolved, then acks the root when nothing is left. */
function settle(st: PipelineState, root: Root): void {
  if (root.joinsPending > 0) resolveJoins(st, root);
  if (root.live.length === 0 && root.joinsPending === 0) {
    st.out.push({ type: "ack", rootId: root.id });
    unlinkRunning(st, root);
    st.roots.delete(root.id);
    st.completed++;
  }
}

/**
 * A join is resolved when no ancestor has a delivery outstanding and every join among its
 * ancestors is resolved. Joins are visited in topological order, so one pass resolves a chain.
 */
function resolveJoins(st: PipelineState, root: Root): void {
  const joins = st.graph.joins;
  const resolved = root.joinResolved!;
  const outstanding = root.outstanding!;
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
    root.joinsPending--;
    const buf = root.joinBuf![k];
    if (buf === undefined) continue; // no parent produced anything: the branch ends here
    root.joinBuf![k] = undefined;
    const parts: Array<[string, Uint8Array[]]> = j.parents.map((p, i) => [p, buf[i] ?? []]);
    const t = st.tasks[j.task]!;
    addDelivery(st, root, j.task, t.g.joinEdge, st.config.encodeJoin(parts));
    pump(st, t);
  }
}

/** Fails the current attempt: drops its deliveries, records why, then schedules a retry or dead-letters. */
function failRoot(st: PipelineState, root: Root, reason: string, where?: string): void {
  const live = root.live;
  for (let i = 0; i < live.length; i++) {
    const d = live[i]!;
    if (d.state === QUEUED) dropQueued(st.tasks[d.task]!, d);
    else if (d.state === LEASED) {
      // The session's credit stays spent until it answers; its answer is then stale.
      d.session!.leases.delete(d.id);
      st.tasks[d.task]!.inflight--;
      d.state = GONE;
      d.session = null;
    }
  }
  root.live = [];
  if (root.outstanding !== null) {
    root.outstanding.fill(0);
    root.joinResolved!.fill(0);
    root.joinBuf!.fill(undefined);
    root.joinsPending = st.graph.joins.length;
  }
  unlinkRunning(st, root);
  (root.records ??= []).push(where ? { attempt: root.attempt, error: reason, at: st.now, where } : { attempt: root.attempt, error: reason, at: st.now });
  st.failed++;
  const cfg = st.config;
  if (root.attempt < cfg.retry + 1) {
    root.retries++;
    const b = cfg.backoff;
    const delayMs = backoff(b, root.retries);
    root.state = BACKOFF;
    root.retryAt = st.now + delayMs;
    root.heapSeq = st.nextHeapSeq++;
    heapPush(st.backoff, root);
    st.retried++;
    st.out.push(where ? { type: "retry", rootId: root.id, attempt: root.attempt + 1, error: reason, delayMs, where } : { type: "retry", rootId: root.id, attempt: root.attempt + 1, error: reason, delayMs });
  } else {
    st.roots.delete(root.id);
    st.deadLettered++;
    st.out.push({ type: "dead_letter", rootId: root.id, payload: root.payload, error: reason, attempts: root.records });
  }
}

function linkRunning(st: PipelineState, root: Root): void {
  root.prev = st.runTail;
  root.next = null;
  if (st.runTail !== null) st.runTail.next = root;
  else st.runHead = root;
  st.runTail = root;
}

function unlinkRunning(st: PipelineState, root: Root): void {
  if (root.prev !== null) root.prev.next = root.next;
  else if (st.runHead === root) st.runHead = root.next;
  if (root.next !== null) root.next.prev = root.prev;
  else if (st.runTail === root) st.runTail = root.prev;
  root.prev = null;
  root.next = null;
}

// ---------------------------------------------------------------------------------------------
// Deliveries, queues and sessions

function addDelivery(st: PipelineState, root: Root, task: number, edge: [string, string], payload: Uint8Array): void {
  const d = new Delivery(st.nextDelivery++, root, task, edge, payload);
  d.rootIdx = root.live.length;
  root.live.push(d);
  if (root.outstanding !== null) root.outstanding[task]!++;
  const t = st.tasks[task]!;
  t.queue.pushBack(d);
  t.queuedLive++;
}

/** Removes an answered delivery from its root's outstanding set. */
function removeLive(root: Root, d: Delivery): void {
  const live = root.live;
  const last = live.pop()!;
  if (last !== d) {
    live[d.rootIdx] = last;
    last.rootIdx = d.rootIdx;
  }
  if (root.outstanding !== null) root.outstanding[d.task]!--;
}

/** Ends a lease (the caller answers it). */
function release(s: Session, d: Delivery): void {
  s.leases.delete(d.id);
  s.task.inflight--;
  d.state = GONE;
  d.session = null;
}

/**
 * Puts leased deliveries (already removed from their session's leases) back at the front of
 * their task's queue, in the given order, each under a new delivery id.
 */
function requeueFront(st: PipelineState, held: Delivery[]): void {
  const fresh: Delivery[] = new Array(held.length);
  for (let i = 0; i < held.length; i++) {
    const old = held[i]!;
    st.tasks[old.task]!.inflight--;
    old.state = GONE;
    old.session = null;
    const d = new Delivery(st.nextDelivery++, old.root, old.task, old.edge, old.payload);
    d.rootIdx = old.rootIdx;
    old.root.live[old.rootIdx] = d;
    fresh[i] = d;
  }
  for (let i = fresh.length - 1; i >= 0; i--) {
    const d = fresh[i]!;
    const t = st.tasks[d.task]!;
    t.queue.pushFront(d);
    t.queuedLive++;
  }
}

/** Marks a queued delivery dropped; the queue skips it later and is compacted when mostly dead. */
function dropQueued(t: TaskState, d: Delivery): void {
  d.state = GONE;
  t.queuedLive--;
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
  if (!s.inReady) {
    s.inReady = true;
    s.task.ready.pushBack(s);
  }
  pump(st, s.task);
}

/** Hands queued deliveries to sessions with credits, round-robin. */
function pump(st: PipelineState, t: TaskState): void {
  const ready = t.ready;
  const queue = t.queue;
  while (t.queuedLive > 0 && ready.length > 0) {
    const s = ready.peekFront()!;
    let d = queue.popFront()!;
    while (d.state !== QUEUED) {
      t.deadInQueue--;
      d = queue.popFront()!;
    }
    t.queuedLive--;
    d.state = LEASED;
    d.session = s;
    d.deadline = st.now + st.config.leaseMs;
    s.leases.set(d.id, d);
    t.inflight++;
    s.credits--;
    if (ready.length > 1) {
      ready.popFront();
      if (s.credits > 0) ready.pushBack(s);
      else s.inReady = false;
    } else if (s.credits === 0) {
      ready.popFront();
      s.inReady = false;
    }
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
  if (t.queuedLive === 0 && queue.length > 0) {
    queue.clear();
    t.deadInQueue = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Backoff heap: min by (retryAt, heapSeq)

function before(a: Root, b: Root): boolean {
  return a.retryAt < b.retryAt || (a.retryAt === b.retryAt && a.heapSeq < b.heapSeq);
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
