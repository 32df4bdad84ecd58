import { connect, type Socket } from "node:net";
import { DEFAULT_MAX_FRAME, decodeCbor, encodeCbor, isCodecError } from "../../codec/index.ts";
import type { DeliverItem, DoneItem, FailItem } from "../../protocol/topology-task.ts";
import { EDGE_JOIN, EDGE_SOURCE, PROTOCOL_VERSION, parseTopologyToTask } from "../../protocol/topology-task.ts";
import { fuse, type Fusion } from "../../core/pipeline/fusion.ts";
import type { TaskSpec } from "../../core/pipeline/types.ts";
import { UnitRun } from "../../core/pipeline/unit-run.ts";
import { copyMessage } from "../../core/pipeline/copy.ts";
import { Deque } from "../../core/deque.ts";
import type { TaskContext, TaskDefinition } from "../../sdk/index.ts";
import { type BackoffRules, createBackoff } from "../../core/backoff.ts";
import { userFrames } from "../../core/text/stack.ts";
import { Histogram } from "../../core/stats/histogram.ts";
import { clock } from "../clock.ts";
import { FramedConnection } from "../connection.ts";
import { proofFor } from "../../core/auth.ts";
import type { Logger } from "../log.ts";

export interface TaskWorkerOptions {
  topology: string;
  /** The task it was started for (its name in the hello and its logs); `hosted` has it too. */
  task: string;
  instance: string;
  /** Every task this worker hosts (a fused worker hosts several), with its handler and logger. */
  hosted: Array<{ name: string; definition: TaskDefinition; log: Logger }>;
  /** The topology's tasks (its DAG), so the worker knows which deliveries stay inside it. */
  specs: TaskSpec[];
  /**
   * Where the topology is, asked again before every connection attempt: a fixed address
   * (`--connect`) or the registry (`--discover`), so a task follows a topology that moved.
   * null = not known yet; the worker says `waiting` once and retries with capped backoff.
   */
  resolve: AddressResolver;
  /** Said once while `resolve` finds nothing, e.g. "waiting for topology `y` to register in Redis at …". */
  waiting?: string;
  /** Deliveries worked on at once (each makes one handler call at a time). */
  concurrency: number;
  /** A handler call that has not settled after this long is reported as failed. */
  handlerTimeoutMs: number;
  /**
   * A call still running after this long gives its concurrency slot to the next delivery (at
   * most `concurrency` such calls at once); its answer is still taken until `handlerTimeoutMs`.
   * Default: a fifth of the handler timeout. So a handler that hangs on some messages never
   * makes the others wait for their timeout.
   */
  stallMs?: number;
  log: Logger;
  /** TEMPEST_TOKEN, to answer the topology's challenge (DESIGN.md §11). */
  token?: string;
  /**
   * A task `tempest run` started belongs to ONE topology instance: the one given here, else
   * the first that welcomes it. Another instance (a new run on the same port) refuses it, and
   * it leaves. Unset (by hand, `--discover`): it follows whatever topology answers.
   */
  belongsToRun?: { instance?: string; giveUpMs: number };
}

export interface TopologyAddress {
  host: string;
  port: number;
}

export type AddressResolver = () => Promise<TopologyAddress | null>;

/** The resolver of `--connect HOST:PORT`. */
export function fixedAddress(address: TopologyAddress): AddressResolver {
  return async () => address;
}

export interface TaskWorkerHandle {
  /** Resolves when the worker has stopped (shutdown from the topology, or stop()). */
  finished: Promise<void>;
  /** Why it gave up, once `finished` resolved after giving up (a task of `tempest run` only). */
  gaveUp(): string | undefined;
  stop(reason: string): Promise<void>;
}

const RECONNECT: BackoffRules = { initialMs: 100, maxMs: 5_000, factor: 2, jitter: 0.1 };
/** A host whose link is down would otherwise hold a connect for the kernel's SYN timeout (minutes). */
const CONNECT_TIMEOUT_MS = 3_000;
const STOP_GRACE_MS = 10_000;
const UNREACHABLE_SAID_AFTER_MS = 1_000;
/**
 * Credits: how many deliveries this worker holds (queued here or running). Enough that each
 * socket write carries a batch, few enough that a delivery waits here no longer than about
 * WAIT_BUDGET_MS before it starts: the topology's timeout runs from the lease, and work the
 * worker cannot start soon is better left in the topology's queue for another instance.
 */
const FIRST_WINDOW = 16;
const MAX_WINDOW = 1024;
/**
 * At 1 ms (sized on the handlers' time alone) the window reached its maximum and a worker
 * catching up after start-up held ~14 ms of arrivals; sized on what a delivery really costs
 * (see flushAnswers), 1 ms starved the worker between round trips. 2 ms of real work keeps
 * both: whole-run p99 8.7-9.6 ms at half the maximum rate, and the same maximum.
 */
const WAIT_BUDGET_MS = 2;
/**
 * A worker with a backlog answers after this many deliveries (and whenever its queue runs
 * dry). 64 made 4-7 frames per window and a topology turn for each; at 256 the isolated
 * diamond ran ~15% faster with the same p99 at half the maximum rate (bench/README.md).
 */
const ANSWER_EVERY = 256;
/** Room for the rest of an `answers` frame around its outputs. */
const FRAME_MARGIN = 64 * 1024;

const NO_OUTPUTS: Uint8Array[] = [];
const NO_PRODUCERS: number[] = [];

/** One delivery being worked on: the calls it makes inside this worker, and what leaves it. */
class Work extends UnitRun {
  startedAt = performance.now();
  /** Encoded outputs that leave the worker, and the topology index of the task of each. */
  outputs = NO_OUTPUTS;
  producers = NO_PRODUCERS;
  bytes = 0;
  /** It gave its slot away (it counts in `stalled`, not in `running`). */
  stalled = false;

  constructor(
    fusion: Fusion,
    entry: number,
    edge: readonly [string, string],
    value: unknown,
    readonly item: DeliverItem,
    readonly generation: number,
    private readonly toTopology: number[],
  ) {
    super(fusion, entry, edge, value);
  }

  protected exit(task: number, value: unknown): void {
    if (value === undefined) throw new Error("a handler returned an array holding undefined");
    const bytes = encodeCbor(value);
    if (this.outputs === NO_OUTPUTS) {
      this.outputs = [];
      this.producers = [];
    }
    this.outputs.push(bytes);
    this.producers.push(this.toTopology[task]!);
    this.bytes += bytes.length;
  }

  protected clone(value: unknown): unknown {
    return copyMessage(value);
  }
}

/**
 * The task role (DESIGN.md §4–§5): connects to its topology, asks for deliveries with credits,
 * works on up to `concurrency` of them at a time (each runs the tasks it reaches inside this
 * worker as function calls), answers in batches, reconnects with capped backoff when the
 * topology goes away, and stops gracefully.
 */
export function startTaskWorker(opts: TaskWorkerOptions): TaskWorkerHandle {
  return new TaskWorker(opts).start();
}

class TaskWorker {
  private conn?: FramedConnection;
  /** Bumped on every connection so answers to an old connection are never sent on a new one. */
  private generation = 0;
  /** Deliveries not started yet. */
  private queue = new Deque<DeliverItem>();
  /** Deliveries holding a concurrency slot. */
  private running = 0;
  /** Deliveries that ran past `stallMs` and gave their slot away. */
  private stalled = 0;
  /** Deliveries waiting on a promise, oldest first. */
  private readonly waitingEntries = new Set<Work>();
  private readonly fusion: Fusion;
  /** By local task index (TaskSpec order). */
  private readonly hosted: Array<{ name: string; definition: TaskDefinition; log: Logger } | undefined>;
  /** Local task index → the topology's index (from its welcome), and task name → local index. */
  private toTopology: number[] = [];
  /** The topology's task index → local index, and the edges deliveries arrive on (by from/to). */
  private fromTopology: number[] = [];
  private readonly edges = new Map<number, readonly [string, string]>();
  private readonly localIndex: Map<string, number>;
  /** Credits: what the topology may still send, and what it sent that is not answered yet. */
  private granted = 0;
  private held = 0;
  private window = FIRST_WINDOW;
  /** Moving average of a delivery's time here, and whether deliveries wait on promises. */
  private avgMs = 0;
  /** Wall time per delivery while deliveries were waiting here (see flushAnswers); 0 until measured. */
  private behindMs = 0;
  private lastFlushAt = 0;
  private behindSinceFlush = false;
  private sawPromise = false;
  private doneOut: DoneItem[] = [];
  /** Per local task index: the calls made since the last `answers` frame. */
  private callStats: Array<{ handled: number; errors: number; latency: Histogram } | undefined> = [];
  private failOut: FailItem[] = [];
  private flushScheduled = false;
  private draining = false;
  private drainLater = false;
  private stallTimer?: ReturnType<typeof setInterval>;
  private readonly stallMs: number;
  private stopping = false;
  private stopped = false;
  private readonly reconnect = createBackoff(RECONNECT);
  private unreachableSince?: number;
  /** The address of the current (or last) connection attempt. */
  private address: TopologyAddress = { host: "?", port: 0 };
  private waitingSaid = false;
  private gaveUpReason?: string;
  /** The topology instance this worker belongs to (belongsToRun only). */
  private instanceOf?: string;
  private resolveFinished!: () => void;
  private readonly finished = new Promise<void>((r) => (this.resolveFinished = r));
  private heartbeatTimer?: ReturnType<typeof setInterval>;

  constructor(private readonly opts: TaskWorkerOptions) {
    this.fusion = fuse(opts.specs, [opts.hosted.map((h) => h.name)]);
    this.localIndex = this.fusion.byName;
    this.hosted = opts.specs.map((s) => opts.hosted.find((h) => h.name === s.name));
    this.toTopology = opts.specs.map((_, i) => i);
    this.fromTopology = opts.specs.map((_, i) => i);
    this.window = Math.max(FIRST_WINDOW, opts.concurrency * 2);
    this.instanceOf = opts.belongsToRun?.instance;
    this.stallMs = opts.stallMs ?? Math.max(1, Math.floor(opts.handlerTimeoutMs / 5));
  }

  /** A task of `tempest run` that cannot reach its topology stops; nobody else would stop it. */
  private giveUp(reason: string): void {
    if (this.stopping) return;
    this.gaveUpReason = reason;
    void this.stop(reason);
  }

  /** Gives the slots of deliveries running past `stallMs` to queued ones. */
  private checkStalled(): void {
    const now = performance.now();
    for (const e of this.waitingEntries) {
      if (now - e.startedAt < this.stallMs) break; // oldest first: the rest are younger
      if (e.stalled) continue;
      if (this.stalled >= this.opts.concurrency) break;
      e.stalled = true;
      this.stalled++;
      this.running--;
    }
    this.drainQueue();
  }

  start(): TaskWorkerHandle {
    this.connect();
    return { finished: this.finished, stop: (reason) => this.stop(reason), gaveUp: () => this.gaveUpReason };
  }

  private connect(): void {
    if (this.stopping) return;
    void this.resolveAndConnect();
  }

  private retryLater(): void {
    const run = this.opts.belongsToRun;
    if (run && this.unreachableSince !== undefined && Date.now() - this.unreachableSince >= run.giveUpMs) {
      const { host, port } = this.address;
      this.giveUp(`no topology answered at ${host}:${port} for ${+(run.giveUpMs / 1000).toFixed(1)} s: giving up (this task was started by tempest run, whose topology is gone)`);
      return;
    }
    setTimeout(() => this.connect(), this.reconnect.next());
  }

  private async resolveAndConnect(): Promise<void> {
    let address: TopologyAddress | null = null;
    try {
      address = await this.opts.resolve();
    } catch (e) {
      this.opts.log.debug(`cannot resolve the topology's address: ${(e as Error).message}`);
    }
    if (this.stopping) {
      this.maybeFinish();
      return;
    }
    if (!address) {
      if (!this.waitingSaid) this.opts.log.info(this.opts.waiting ?? "waiting for the topology's address");
      this.waitingSaid = true;
      this.unreachableSince ??= Date.now();
      this.retryLater();
      return;
    }
    if (this.waitingSaid) this.opts.log.info(`found the topology at ${address.host}:${address.port}`);
    this.waitingSaid = false;
    this.address = address;
    this.open(address);
  }

  private open({ host, port }: TopologyAddress): void {
    const { log } = this.opts;
    const generation = ++this.generation;
    const socket: Socket = connect({ host, port });
    const conn = new FramedConnection(socket);
    const timeout = setTimeout(() => socket.destroy(Object.assign(new Error("connect timed out"), { code: `ETIMEDOUT after ${CONNECT_TIMEOUT_MS} ms` })), CONNECT_TIMEOUT_MS);
    socket.once("connect", () => clearTimeout(timeout));
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const frame of conn.decode(chunk)) this.onFrame(conn, generation, frame);
      } catch (e) {
        log.error(`bad frame from the topology: ${isCodecError(e) ? e.message : (e as Error).message}; reconnecting`);
        conn.destroy();
      }
    });
    socket.on("error", (e: NodeJS.ErrnoException) => this.outage(conn, e.code ?? e.message));
    socket.on("close", () => {
      clearTimeout(timeout);
      this.outage(conn, "connection closed");
      if (this.conn === conn) this.conn = undefined;
      // Deliveries not started yet belong to the old session; the topology requeues them.
      this.queue.clear();
      clearInterval(this.heartbeatTimer);
      if (this.stopping) {
        this.maybeFinish();
        return;
      }
      this.retryLater();
    });
  }

  /** Logs an outage once, when it starts; `onFrame(welcome)` logs its end. */
  private outage(conn: FramedConnection, why: string): void {
    if (this.unreachableSince !== undefined || this.stopping) return;
    this.unreachableSince = Date.now();
    const { host, port } = this.address;
    const { log } = this.opts;
    if (this.conn === conn) {
      log.warn(`lost the connection to the topology at ${host}:${port} (${why}); reconnecting`);
      return;
    }
    // Not reachable yet: said once it lasts, so a task that starts as its topology finishes
    // (and is stopped a moment later) does not warn about nothing.
    const since = this.unreachableSince;
    setTimeout(() => {
      if (this.unreachableSince === since && !this.stopping) log.warn(`topology at ${host}:${port} is not reachable (${why}); retrying`);
    }, UNREACHABLE_SAID_AFTER_MS).unref();
  }

  private onFrame(conn: FramedConnection, generation: number, frame: unknown): void {
    const msg = parseTopologyToTask(frame);
    switch (msg.type) {
      case "challenge":
        conn.send({
          type: "hello", version: PROTOCOL_VERSION, role: "task", topology: this.opts.topology, task: this.opts.task, instance: this.opts.instance, pid: process.pid,
          tasks: this.opts.hosted.map((h) => h.name),
          ...(this.opts.token ? { proof: proofFor(this.opts.token, msg.nonce) } : {}),
          ...(this.instanceOf ? { topology_instance: this.instanceOf } : {}),
        });
        return;
      case "welcome":
        if (this.opts.belongsToRun && !this.instanceOf) this.instanceOf = msg.instance;
        this.conn = conn;
        this.reconnect.reset();
        if (this.unreachableSince !== undefined) {
          this.opts.log.info(`connected to the topology after ${Date.now() - this.unreachableSince} ms`);
          this.unreachableSince = undefined;
        }
        if (msg.tasks) {
          this.toTopology = this.opts.specs.map((s) => msg.tasks!.indexOf(s.name));
          this.fromTopology = msg.tasks.map((name) => this.localIndex.get(name) ?? -1);
          this.edges.clear();
        }
        // A new session: nothing is held for it yet.
        this.granted = this.window;
        this.held = 0;
        this.doneOut = [];
        this.failOut = [];
        conn.send({ type: "ready", credits: this.window });
        clearInterval(this.heartbeatTimer);
        // Any frame renews this worker's leases: ping often enough that a live worker never loses them.
        this.heartbeatTimer = setInterval(() => {
          if (clock() - conn.lastSeen > msg.heartbeat_ms * 5) {
            this.opts.log.warn("the topology went silent; reconnecting");
            conn.destroy();
          } else conn.send({ type: "ping", t: Date.now() });
        }, Math.max(50, Math.min(msg.heartbeat_ms, Math.floor((msg.lease_ms ?? 3 * msg.heartbeat_ms) / 3))));
        return;
      case "reject":
        if (msg.code === "instance" && this.opts.belongsToRun) {
          conn.destroy();
          this.giveUp(`the topology at ${this.address.host}:${this.address.port} is another run's (${msg.reason}): leaving`);
          return;
        }
        // Said once per outage: a refused task retries with backoff like an unreachable one.
        if (this.unreachableSince === undefined) {
          const hint = msg.code === "auth" ? (this.opts.token ? " (is TEMPEST_TOKEN the same as the topology's?)" : " (set TEMPEST_TOKEN in this task's environment)") : "";
          this.opts.log.error(`the topology refused this task: ${msg.reason}${hint}; retrying`);
        }
        this.unreachableSince ??= Date.now();
        conn.destroy();
        return;
      case "deliveries":
        // While stopping, take nothing new: the topology requeues it when we leave.
        if (generation !== this.generation || this.stopping) return;
        this.granted -= msg.items.length;
        this.held += msg.items.length;
        for (const item of msg.items) this.queue.pushBack(item);
        this.drainQueue();
        return;
      case "ping":
        conn.send({ type: "pong", t: msg.t });
        return;
      case "pong":
        return;
      case "shutdown":
        void this.stop("the topology is shutting down");
        return;
    }
  }

  /**
   * Starts queued deliveries while slots are free, at most ANSWER_EVERY in one go: then the
   * answers (and the credits) go out and the rest follows on the next turn, so the topology
   * never waits for a whole frame of work before it can send more (latency stays low under load).
   */
  private drainQueue(): void {
    if (this.draining) return;
    this.draining = true;
    let started = 0;
    try {
      while (this.running < this.opts.concurrency && this.queue.length > 0) {
        if (started++ === ANSWER_EVERY) {
          this.flushAnswers();
          if (!this.drainLater) {
            this.drainLater = true;
            setImmediate(() => {
              this.drainLater = false;
              this.drainQueue();
            });
          }
          return;
        }
        const item = this.queue.popFront()!;
        this.running++;
        this.begin(item, this.generation);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Starts a delivery: decodes it once, then runs what it reaches inside this worker. */
  private begin(item: DeliverItem, generation: number): void {
    const entry = this.fromTopology[item[3]];
    if (entry === undefined || entry < 0 || this.hosted[entry] === undefined) {
      this.finish1(item, generation, { fail: [item[0], item[3], `this worker does not host task #${item[3]}`, ""] });
      return;
    }
    let value: unknown;
    try {
      value = decodeCbor(item[5]);
    } catch (err) {
      this.finish1(item, generation, { fail: [item[0], this.toTopology[entry]!, `cannot decode the message: ${errorText(err)}`, ""] });
      return;
    }
    this.proceed(new Work(this.fusion, entry, this.edge(item[2], entry), value, item, generation, this.toTopology));
  }

  /** The [from, to] names of a delivery's edge, made once per pair (they are shared: frozen). */
  private edge(from: number, to: number): readonly [string, string] {
    const k = from * 4096 + to;
    let edge = this.edges.get(k);
    if (edge === undefined) {
      const name = (i: number) => (i === EDGE_SOURCE ? "$source" : i === EDGE_JOIN ? "$join" : (this.opts.specs[this.fromTopology[i] ?? -1]?.name ?? `#${i}`));
      edge = Object.freeze([name(from), this.opts.specs[to]!.name] as [string, string]);
      this.edges.set(k, edge);
    }
    return edge;
  }

  /**
   * Makes the delivery's calls, synchronously while handlers return plain values (no promise
   * on the hot path), and resumes from a promise's settlement when one returns a promise.
   */
  private proceed(e: Work): void {
    while (e.next()) {
      const h = this.hosted[e.task]!;
      const t0 = performance.now();
      const ctx: TaskContext = { msgId: e.item[1], edge: e.edge as [string, string], attempt: e.item[4], topology: this.opts.topology, task: h.name, log: h.log };
      let result: unknown;
      try {
        result = h.definition.handle(e.value, ctx);
      } catch (err) {
        this.failCall(e, err, t0);
        return;
      }
      if (isThenable(result)) {
        this.wait(e, result, t0);
        return;
      }
      if (!this.accept(e, result, t0)) return;
    }
    this.finish1(e.item, e.generation, { done: e.outputs === NO_OUTPUTS ? [e.item[0]] : [e.item[0], e.outputs, e.producers] }, e);
  }

  private wait(e: Work, result: PromiseLike<unknown>, t0: number): void {
    this.sawPromise = true;
    this.waitingEntries.add(e);
    this.stallTimer ??= setInterval(() => this.checkStalled(), Math.max(1, Math.floor(this.stallMs / 4)));
    const resume = () => {
      this.waitingEntries.delete(e);
      if (this.waitingEntries.size === 0) {
        clearInterval(this.stallTimer);
        this.stallTimer = undefined;
      }
    };
    withTimeout(result, this.opts.handlerTimeoutMs).then(
      (value) => {
        resume();
        if (this.accept(e, value, t0)) this.proceed(e);
      },
      (err) => {
        resume();
        this.failCall(e, err, t0);
      },
    );
  }

  /** Takes a call's result; false when it failed the delivery (its outputs cannot be sent). */
  private accept(e: Work, result: unknown, t0: number): boolean {
    const ms = performance.now() - t0;
    try {
      e.result(result);
    } catch (err) {
      this.count(e.task, ms, false);
      this.fail(e, `cannot encode the handler's output: ${errorText(err)}`, "");
      return false;
    }
    // A frame over max_frame would make the topology drop this connection (and requeue forever).
    if (e.bytes > DEFAULT_MAX_FRAME - FRAME_MARGIN) {
      this.count(e.task, ms, false);
      this.fail(e, `the handler's outputs take ${e.bytes} bytes, above max_frame (${DEFAULT_MAX_FRAME} bytes): split them into smaller messages`, "");
      return false;
    }
    this.count(e.task, ms, true);
    return true;
  }

  /** A handler threw (or its promise rejected or timed out). */
  private failCall(e: Work, err: unknown, t0: number): void {
    this.count(e.task, performance.now() - t0, false);
    this.fail(e, errorText(err), err instanceof Error ? userFrames(err.stack, process.cwd()) : "");
  }

  /** One handler call, for the per-task figures the next `answers` frame carries. */
  private count(task: number, ms: number, ok: boolean): void {
    let c = this.callStats[task];
    if (c === undefined) this.callStats[task] = c = { handled: 0, errors: 0, latency: new Histogram() };
    if (ok) c.handled++;
    else c.errors++;
    c.latency.record(ms);
  }

  /** The current call of `e` failed, and with it the delivery. */
  private fail(e: Work, error: string, where: string): void {
    this.finish1(e.item, e.generation, { fail: [e.item[0], this.toTopology[e.task]!, error, where] }, e);
  }

  /** Queues the answer (unless its connection is gone: the topology has requeued it), frees the slot. */
  private finish1(item: DeliverItem, generation: number, answer: { done?: DoneItem; fail?: FailItem }, e?: Work): void {
    if (e?.stalled) {
      this.stalled--;
      this.running++;
    }
    if (e) {
      const ms = performance.now() - e.startedAt;
      this.avgMs = this.avgMs === 0 ? ms : this.avgMs * 0.9 + ms * 0.1;
    }
    if (generation === this.generation && this.conn) {
      if (answer.done) this.doneOut.push(answer.done);
      else this.failOut.push(answer.fail!);
      this.held--;
      this.scheduleFlush();
    }
    this.running--;
    this.drainQueue();
    this.maybeFinish();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushAnswers());
  }

  /** One `answers` frame for everything answered since the last, with the credits to keep the window full. */
  private flushAnswers(): void {
    this.flushScheduled = false;
    if (this.doneOut.length === 0 && this.failOut.length === 0) return;
    const par = this.sawPromise ? this.opts.concurrency : 1;
    // While deliveries were waiting the whole time since the last frame, that time over what
    // was answered is what one really costs here: decoding, the calls, encoding, I/O. The
    // handlers' own time leaves most of that out. Not behind: the figure decays, so a window
    // it made small (after a pause) grows back and is measured again the next time it is behind.
    const now = performance.now();
    if (this.behindSinceFlush && !this.sawPromise) {
      const per = (now - this.lastFlushAt) / (this.doneOut.length + this.failOut.length);
      this.behindMs = this.behindMs === 0 ? per : this.behindMs * 0.8 + per * 0.2;
    } else this.behindMs *= 0.9;
    this.lastFlushAt = now;
    this.behindSinceFlush = this.queue.length > 0;
    const cost = Math.max(this.avgMs, this.behindMs, 0.001);
    this.window = Math.max(2, Math.min(MAX_WINDOW, par + Math.ceil((par * WAIT_BUDGET_MS) / cost)));
    const credits = this.stopping ? 0 : Math.max(0, this.window - (this.granted + this.held));
    this.granted += credits;
    const calls: number[][] = [];
    this.callStats.forEach((c, task) => {
      if (c === undefined) return;
      const h = c.latency.snapshot();
      calls.push([this.toTopology[task]!, c.handled, c.errors, h.sum, h.max, ...h.buckets.flat()]);
    });
    this.callStats = [];
    this.conn?.send({ type: "answers", credits, done: this.doneOut, fail: this.failOut, calls });
    this.doneOut = [];
    this.failOut = [];
  }

  async stop(reason: string): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.opts.log.debug(`stopping: ${reason}`);
      setTimeout(() => {
        if (!this.stopped) {
          this.opts.log.warn(`${this.running + this.stalled} handler call(s) still running after ${STOP_GRACE_MS} ms; stopping anyway`);
          void this.finish();
        }
      }, STOP_GRACE_MS).unref();
      this.maybeFinish();
    }
    return this.finished;
  }

  private maybeFinish(): void {
    if (!this.stopping || this.stopped) return;
    if (this.running > 0 || this.stalled > 0 || this.queue.length > 0) return;
    void this.finish();
  }

  private async finish(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.stallTimer);
    if (this.conn) {
      this.flushAnswers();
      this.conn.send({ type: "bye" });
      this.conn.end();
    }
    for (const h of this.opts.hosted) {
      try {
        await h.definition.close?.({ topology: this.opts.topology, task: h.name, log: h.log });
      } catch (e) {
        h.log.error(`close() threw: ${errorText(e)}`);
      }
    }
    this.resolveFinished();
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return typeof e === "string" ? e : JSON.stringify(e) ?? String(e);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

function withTimeout<T>(value: PromiseLike<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the handler did not return within ${ms} ms`)), ms);
    Promise.resolve(value).then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); },
    );
  });
}
