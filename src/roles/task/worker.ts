import { connect, type Socket } from "node:net";
import { DEFAULT_MAX_FRAME, decodeCbor, encodeCbor, isCodecError } from "../../codec/index.ts";
import type { Deliver } from "../../protocol/topology-task.ts";
import { PROTOCOL_VERSION, parseTopologyToTask } from "../../protocol/topology-task.ts";
import type { TaskContext, TaskDefinition } from "../../sdk/index.ts";
import { type BackoffRules, createBackoff } from "../../core/backoff.ts";
import { userFrames } from "../../core/text/stack.ts";
import { clock } from "../clock.ts";
import { FramedConnection } from "../connection.ts";
import { proofFor } from "../../core/auth.ts";
import type { Logger } from "../log.ts";

export interface TaskWorkerOptions {
  topology: string;
  task: string;
  instance: string;
  definition: TaskDefinition;
  /**
   * Where the topology is, asked again before every connection attempt: a fixed address
   * (`--connect`) or the registry (`--discover`), so a task follows a topology that moved.
   * null = not known yet; the worker says `waiting` once and retries with capped backoff.
   */
  resolve: AddressResolver;
  /** Said once while `resolve` finds nothing, e.g. "waiting for topology `y` to register in Redis at …". */
  waiting?: string;
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
const PREFETCH = 256;
/** Room for the rest of a `done` frame around its outputs. */
const FRAME_MARGIN = 64 * 1024;

/** One handler call in progress that returned a promise. */
interface Call {
  startedAt: number;
  /** It gave its slot away (it counts in `stalled`, not in `running`). */
  stalled: boolean;
}

/**
 * The task role (DESIGN.md §4): connects to its topology, asks for deliveries with credits,
 * runs up to `concurrency` handler calls at a time, answers done/fail, reconnects with capped
 * backoff when the topology goes away, and stops gracefully.
 */
export function startTaskWorker(opts: TaskWorkerOptions): TaskWorkerHandle {
  return new TaskWorker(opts).start();
}

class TaskWorker {
  private conn?: FramedConnection;
  /** Bumped on every connection so answers to an old connection are never sent on a new one. */
  private generation = 0;
  private queue: Deliver[] = [];
  /** Calls holding a concurrency slot. */
  private running = 0;
  /** Calls that ran past `stallMs` and gave their slot away. */
  private stalled = 0;
  /** Promise calls in progress, oldest first. */
  private readonly calls = new Set<Call>();
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
  private readonly prefetch: number;

  constructor(private readonly opts: TaskWorkerOptions) {
    // A little more than the concurrency, so the next message is here when a handler finishes.
    // Enough in flight that each socket write and read carries a batch of frames.
    this.prefetch = Math.max(opts.concurrency * 2, PREFETCH);
    this.instanceOf = opts.belongsToRun?.instance;
    this.stallMs = opts.stallMs ?? Math.max(1, Math.floor(opts.handlerTimeoutMs / 5));
  }

  /** A task of `tempest run` that cannot reach its topology stops; nobody else would stop it. */
  private giveUp(reason: string): void {
    if (this.stopping) return;
    this.gaveUpReason = reason;
    void this.stop(reason);
  }

  /** Gives the slots of calls running past `stallMs` to queued deliveries. */
  private checkStalled(): void {
    const now = performance.now();
    for (const call of this.calls) {
      if (now - call.startedAt < this.stallMs) break; // oldest first: the rest are younger
      if (call.stalled) continue;
      if (this.stalled >= this.opts.concurrency) break;
      call.stalled = true;
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
      this.queue = [];
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
    if (this.conn === conn) log.warn(`lost the connection to the topology at ${host}:${port} (${why}); reconnecting`);
    else log.warn(`topology at ${host}:${port} is not reachable (${why}); retrying`);
  }

  private onFrame(conn: FramedConnection, generation: number, frame: unknown): void {
    const msg = parseTopologyToTask(frame);
    switch (msg.type) {
      case "challenge":
        conn.send({
          type: "hello", version: PROTOCOL_VERSION, role: "task", topology: this.opts.topology, task: this.opts.task, instance: this.opts.instance, pid: process.pid,
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
        conn.send({ type: "ready", credits: this.prefetch });
        clearInterval(this.heartbeatTimer);
        this.heartbeatTimer = setInterval(() => {
          if (clock() - conn.lastSeen > msg.heartbeat_ms * 5) {
            this.opts.log.warn("the topology went silent; reconnecting");
            conn.destroy();
          } else conn.send({ type: "ping", t: Date.now() });
        }, msg.heartbeat_ms);
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
      case "deliver":
        // While stopping, take nothing new: the topology requeues it when we leave.
        if (generation !== this.generation || this.stopping) return;
        this.queue.push(msg);
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

  private drainQueue(): void {
    while (this.running < this.opts.concurrency && this.queue.length > 0) {
      const d = this.queue.shift() as Deliver;
      this.running++;
      this.handle(d, this.generation);
    }
  }

  /**
   * Calls the handler. A synchronous result is answered at once (no promise on the hot path);
   * a promise is awaited, bounded by the handler timeout.
   */
  private handle(d: Deliver, generation: number): void {
    const t0 = performance.now();
    const ctx: TaskContext = {
      msgId: d.msg_id,
      edge: d.edge,
      attempt: d.attempt,
      topology: this.opts.topology,
      task: this.opts.task,
      log: this.opts.log,
    };
    let result: unknown;
    try {
      result = this.opts.definition.handle(decodeCbor(d.msg), ctx);
    } catch (e) {
      this.answer(generation, failure(d.delivery, e, t0));
      return;
    }
    if (!isThenable(result)) {
      this.answer(generation, this.doneOrFail(d.delivery, result, t0));
      return;
    }
    const call: Call = { startedAt: t0, stalled: false };
    this.calls.add(call);
    this.stallTimer ??= setInterval(() => this.checkStalled(), Math.max(1, Math.floor(this.stallMs / 4)));
    const settle = (answer: Answer) => {
      this.calls.delete(call);
      if (this.calls.size === 0) {
        clearInterval(this.stallTimer);
        this.stallTimer = undefined;
      }
      if (call.stalled) {
        this.stalled--;
        this.running++; // answer() gives it back
      }
      this.answer(generation, answer);
    };
    withTimeout(result, this.opts.handlerTimeoutMs).then(
      (value) => settle(this.doneOrFail(d.delivery, value, t0)),
      (e) => settle(failure(d.delivery, e, t0)),
    );
  }

  private doneOrFail(delivery: number, result: unknown, t0: number): Answer {
    let outputs: Uint8Array[];
    try {
      outputs = toOutputs(result).map(encodeOutput);
    } catch (e) {
      return { type: "fail", delivery, error: `cannot encode the handler's output: ${errorText(e)}`, ms: performance.now() - t0 };
    }
    // A frame over max_frame would make the topology drop this connection (and requeue forever).
    const bytes = outputs.reduce((n, o) => n + o.length, 0);
    if (bytes > DEFAULT_MAX_FRAME - FRAME_MARGIN) {
      return { type: "fail", delivery, error: `the handler's outputs take ${bytes} bytes, above max_frame (${DEFAULT_MAX_FRAME} bytes): split them into smaller messages`, ms: performance.now() - t0 };
    }
    return { type: "done", delivery, outputs, ms: performance.now() - t0 };
  }

  /** Sends the answer (unless its connection is gone: the topology has requeued it) and frees the slot. */
  private answer(generation: number, answer: Answer): void {
    if (generation === this.generation) this.conn?.send(answer);
    this.running--;
    this.drainQueue();
    this.maybeFinish();
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
      this.conn.send({ type: "bye" });
      this.conn.end();
    }
    try {
      await this.opts.definition.close?.({ topology: this.opts.topology, task: this.opts.task, log: this.opts.log });
    } catch (e) {
      this.opts.log.error(`close() threw: ${errorText(e)}`);
    }
    this.resolveFinished();
  }
}

function toOutputs(result: unknown): unknown[] {
  if (result === undefined || result === null) return [];
  return Array.isArray(result) ? result : [result];
}

function encodeOutput(value: unknown): Uint8Array {
  if (value === undefined) throw new Error("a handler returned an array holding undefined");
  return encodeCbor(value);
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return typeof e === "string" ? e : JSON.stringify(e) ?? String(e);
}

type Answer = { type: "done"; delivery: number; outputs: Uint8Array[]; ms: number } | { type: "fail"; delivery: number; error: string; ms: number; where?: string };

/** A handler's error as the topology gets it: the message, and where in the user's files it was thrown. */
function failure(delivery: number, e: unknown, t0: number): Answer {
  const where = e instanceof Error ? userFrames(e.stack, process.cwd()) : "";
  return { type: "fail", delivery, error: errorText(e), ms: performance.now() - t0, ...(where ? { where } : {}) };
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
