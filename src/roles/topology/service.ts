import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { DEFAULT_MAX_FRAME, cborJoinMap, isCodecError } from "../../codec/index.ts";
import { TempestError } from "../../core/errors.ts";
import { isLoopback, newNonce } from "../../core/auth.ts";
import { capacity, createPipeline, inflightRoots, stats, step, tasksWithoutSession, type AttemptRecord, type Effect, type Event, type PipelineState, type PipelineStats } from "../../core/pipeline/index.ts";
import type { Topology } from "../../core/project/model.ts";
import { taskSpecs } from "../../core/project/specs.ts";
import { workerUnits, type WorkerUnit } from "../../core/project/workers.ts";
import { awaitsFirstDelivery, acceptTask, initialLifecycle, refusePeer, isDone, isStopping, next as nextLifecycle, readsSource, type Lifecycle, type LifecycleEvent } from "../../core/topology/index.ts";
import type { Source } from "../../core/sources/types.ts";
import { Histogram, bucketMs } from "../../core/stats/histogram.ts";
import { EDGE_JOIN, EDGE_SOURCE, HandshakeRefused, PROTOCOL_VERSION, type Answers, type DeliverItem, type RejectCode, parseControlToTopology, parseHello, parseTaskToTopology } from "../../protocol/topology-task.ts";
import { clock } from "../clock.ts";
import { FramedConnection } from "../connection.ts";
import type { Logger } from "../log.ts";
import { summarize, type RecentError, type TopologySummary } from "./summary.ts";

export interface TopologyOptions {
  topology: Topology;
  source: Source;
  host: string;
  port: number;
  log: Logger;
  heartbeatMs?: number;
  tickMs?: number;
  /** How long a graceful stop waits for in-flight roots before giving up on them. */
  drainMs?: number;
  /** TEMPEST_TOKEN: when set, every peer must prove it knows it (DESIGN.md §11). */
  token?: string;
  /** Hears every latency recorded (ms): a task's handler call, or a root from read to ack (statsd). */
  onLatency?: (task: string | null, ms: number) => void;
}

export interface TopologyHandle {
  host: string;
  port: number;
  /** Resolves when the topology has stopped: a finite source is done, or stop() finished. */
  finished: Promise<TopologySummary>;
  /** Stops reading and drains what is in flight; `{ drain: false }` leaves it at the source at once. */
  stop(reason: string, opts?: { drain?: boolean }): Promise<TopologySummary>;
  summary(): TopologySummary;
}

/** A refused peer gets this long to read the reason before its socket is destroyed. */
const REJECT_LINGER_MS = 1_000;

/** How many recent failures a topology keeps for the dashboard. */
const RECENT_ERRORS = 20;

type Peer =
  | { kind: "pending"; conn: FramedConnection; addr: string; ip: string; nonce: string; deadline: ReturnType<typeof setTimeout>; counted: boolean }
  | { kind: "task"; conn: FramedConnection; addr: string; session: string; task: string; instance: string; unit: WorkerUnit; outbox: DeliverItem[] | null }
  | { kind: "control"; conn: FramedConnection; addr: string };

const POLL_BATCH = 500;
/**
 * Before its hello a peer is nobody (DESIGN.md §11): its frames are small, it has a deadline,
 * and only so many may wait at once, per address and in all, so that a flood of half-open or
 * slowloris connections costs a bounded few megabytes instead of the topology's memory.
 */
export const PREAUTH_MAX_FRAME = 16 * 1024;
export const HELLO_DEADLINE_MS = 2_000;
export const MAX_PENDING_PER_ADDRESS = 32;
export const MAX_PENDING = 256;
/** Refusals before a hello are logged as one line per this window, not one per connection. */
const REFUSAL_WINDOW_MS = 1_000;
/** Room for the rest of a `deliver` frame (ids, edge, attempt) around its message. */
const DELIVER_MARGIN = 64 * 1024;
/** The largest message a delivery may carry: a bigger frame would be refused by the task. */
const MAX_DELIVERY_BYTES = DEFAULT_MAX_FRAME - DELIVER_MARGIN;
const ACK_BATCH = 500;
const ACK_DELAY_MS = 5;
/** A worker missing this long is said once ("waiting for task … to connect"); shorter is start-up. */
const WAIT_SAID_AFTER_MS = 2_000;
/** Retries are logged as one line when a burst starts, then one summary per window. */
const RETRY_WINDOW_MS = 5_000;

/** Starts the topology service: TCP server, source, pipeline, acks (DESIGN.md §4–§6). */
export async function startTopology(opts: TopologyOptions): Promise<TopologyHandle> {
  const service = new TopologyService(opts);
  await service.listen();
  return service.handle();
}

class TopologyService {
  private readonly pipeline: PipelineState;
  private readonly peers = new Set<Peer>();
  private readonly sessions = new Map<string, Peer & { kind: "task" }>();
  private readonly latency = new Map<string, Histogram>();
  /** Handler calls per task, from the workers' answers (a fused worker runs several tasks per delivery). */
  private readonly calls = new Map<string, { handled: number; errors: number }>();
  /** How its tasks group into worker processes (core/project/workers.ts). */
  private readonly units: WorkerUnit[];
  /** The topology's task names by index, as workers refer to them. */
  private readonly taskNames: string[];
  private readonly taskIndex: Map<string, number>;
  /** From read to ack, per root (DESIGN.md §12). */
  private readonly complete = new Histogram();
  /** Workers (by first task) with no session, and since when; said once per absence. */
  private readonly missingSince = new Map<string, { since: number; said: boolean }>();
  private retryBurst: { count: number; reasons: Map<string, number>; timer?: ReturnType<typeof setTimeout> } = { count: 0, reasons: new Map() };
  /** The last failures (a ring), for the dashboard: which task and instance, when, and why. */
  private readonly recentErrors: RecentError[] = [];
  /** Who sent the `fail` being stepped, so the retry or dead letter it causes can name them. */
  private failFrom: { task: string; instance: string } | null = null;
  private server?: Server;
  private port = 0;
  private sessionCounter = 0;
  /**
   * Who this topology process is: new for every start, so a task that belonged to an earlier
   * one (a leftover of another run on the same port) is refused instead of joining. `tempest run`
   * may choose it (TEMPEST_TOPOLOGY_INSTANCE) and give the same value to its tasks.
   */
  readonly instanceId = process.env.TEMPEST_TOPOLOGY_INSTANCE || randomBytes(6).toString("hex");
  private read = 0;
  private deadLetteredAtSource = 0;
  /**
   * Starting, running, draining, finishing, done (core/topology/lifecycle.ts), changed only by
   * `transition`. Throughput is measured from its `since`: start-up (tasks connecting) is not work.
   */
  private lifecycle: Lifecycle = initialLifecycle(clock());
  /** A source poll loop is running: a guard against a second one, not a state (see lifecycle.ts). */
  private pumping = false;
  /** For stepHot: one effects array and one event of each hot kind, reused. */
  private readonly effects: Effect[] = [];
  private inStepHot = false;
  private readonly doneEvent: Event & { type: "done" } = { type: "done", session: "", delivery: 0, outputs: NO_OUTPUTS, producers: undefined };
  private readonly sourceEvent: Event & { type: "source" } = { type: "source", id: "", payload: NO_PAYLOAD, attempt: undefined };
  private ackBatch: string[] = [];
  private ackTimer?: ReturnType<typeof setTimeout>;
  private timers: ReturnType<typeof setInterval>[] = [];
  private sourceError?: string;
  private resolveFinished!: (s: TopologySummary) => void;
  private readonly finished = new Promise<TopologySummary>((r) => (this.resolveFinished = r));
  private readonly heartbeatMs: number;
  private readonly pendingByIp = new Map<string, number>();
  private pendingCount = 0;
  private refusals: { count: number; reasons: Map<string, number>; timer?: ReturnType<typeof setTimeout> } = { count: 0, reasons: new Map() };

  constructor(private readonly opts: TopologyOptions) {
    const t = opts.topology;
    const runtime = t.runtime;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.units = workerUnits(t);
    this.pipeline = createPipeline({
      topology: t.name,
      tasks: taskSpecs(t),
      timeoutMs: runtime.message.timeout,
      retry: runtime.message.retry,
      maxPending: runtime.message.max_pending,
      backoff: { initialMs: 100, maxMs: 10_000, factor: 2 },
      leaseMs: runtime.message.lease,
      units: this.units.map((u) => u.tasks),
      // A network source answers a read a round trip later: read further ahead of the credits.
      readAhead: opts.source.type === "redis-stream" ? 256 : 64,
      encodeJoin: cborJoinMap,
    });
    this.taskNames = t.dag.tasks.slice();
    this.taskIndex = new Map(this.taskNames.map((n, i) => [n, i]));
    for (const task of t.dag.tasks) {
      this.latency.set(task, new Histogram());
      this.calls.set(task, { handled: 0, errors: 0 });
    }
  }

  async listen(): Promise<void> {
    const { host, port, log, source, topology } = this.opts;
    if (!this.opts.token && !isLoopback(host)) {
      // A configuration error (DESIGN.md §1): exit 2, like the director's refusal.
      throw new TempestError("E_CONFIG_INVALID", `topology \`${topology.name}\` will not listen on ${host} without TEMPEST_TOKEN: anyone who can connect would get its messages`, {
        exitCode: 2,
        hint: "set the same TEMPEST_TOKEN in the environment of the topology and every task, or listen on 127.0.0.1",
      });
    }
    await source.open();
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server?.once("error", (e: NodeJS.ErrnoException) => {
        const hint = e.code === "EADDRINUSE" ? "choose another --port, or stop the process using it" : "check --host and --port";
        const what = e.code === "EADDRINUSE" ? "address already in use" : e.message;
        reject(new TempestError(e.code === "EADDRINUSE" ? "E_PORT_IN_USE" : "E_ROLE_START", `topology \`${topology.name}\` cannot listen on ${host}:${port}: ${what}`, { hint, exitCode: 1 }));
      });
      this.server?.listen(port, host, () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : port;
    log.info(`listening on ${host}:${this.port}`);
    this.timers.push(setInterval(() => this.tick(), this.opts.tickMs ?? 50));
    this.timers.push(setInterval(() => this.heartbeat(), this.heartbeatMs));
    void this.pump();
  }

  handle(): TopologyHandle {
    return {
      host: this.opts.host,
      port: this.port,
      finished: this.finished,
      stop: (reason, opts) => this.stop(reason, opts),
      summary: () => this.summary(),
    };
  }

  private summary(): TopologySummary {
    return summarize({
      topology: this.opts.topology.name,
      source: this.opts.source.type,
      read: this.read,
      deadLetteredAtSource: this.deadLetteredAtSource,
      stats: this.pipelineStats(),
      latency: this.latency,
      complete: this.complete,
      recentErrors: this.recentErrors,
      lag: this.opts.source.health().lag,
      startedAt: this.lifecycle.since,
      now: clock(),
      sessions: this.sessions.size,
      exhausted: this.opts.source.exhausted(),
    });
  }

  /** The pipeline's counters, with handled and errors per task counted from the calls workers made. */
  private pipelineStats(): PipelineStats {
    const s = stats(this.pipeline);
    for (const [name, c] of this.calls) {
      const t = s.tasks[name];
      if (t) {
        t.handled = c.handled;
        t.errors = c.errors;
      }
    }
    return s;
  }

  // --- connections -------------------------------------------------------------------------

  private accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? "?";
    const addr = `${ip}:${socket.remotePort}`;
    const fromIp = this.pendingByIp.get(ip) ?? 0;
    if (isDone(this.lifecycle) || fromIp >= MAX_PENDING_PER_ADDRESS || this.pendingCount >= MAX_PENDING) {
      this.refused(addr, isDone(this.lifecycle) ? "the topology has finished" : fromIp >= MAX_PENDING_PER_ADDRESS ? `${MAX_PENDING_PER_ADDRESS} connections from ${ip} are already waiting to say hello` : `${MAX_PENDING} connections are already waiting to say hello`);
      socket.on("error", () => {});
      socket.destroy();
      return;
    }
    this.pendingByIp.set(ip, fromIp + 1);
    this.pendingCount++;
    const conn = new FramedConnection(socket, { maxFrame: PREAUTH_MAX_FRAME });
    const deadline = setTimeout(() => {
      if (current.kind === "pending") this.refuse(current, `no hello within ${HELLO_DEADLINE_MS} ms`, "timeout");
    }, HELLO_DEADLINE_MS);
    const peer: Peer = { kind: "pending", conn, addr, ip, nonce: newNonce(), deadline, counted: true };
    this.peers.add(peer);
    // The first frame: a nonce for the peer's token proof (sent whether or not a token is set).
    peer.conn.send({ type: "challenge", nonce: peer.nonce });
    let current: Peer = peer;
    socket.on("data", (chunk: Buffer) => {
      if (current.conn.closed) return;
      try {
        for (const frame of current.conn.decode(chunk)) current = this.onFrame(current, frame);
      } catch (e) {
        // Codec errors and handshake refusals both say what was wrong in their message.
        this.refuse(current, isCodecError(e) ? e.message : (e as Error).message, e instanceof HandshakeRefused ? e.code : "malformed");
        return;
      }
      this.afterEvents();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.peers.delete(current);
      if (current.kind === "pending") this.leavePending(current);
      if (current.kind === "task") {
        this.sessions.delete(current.session);
        this.run(step(this.pipeline, { type: "session_closed", session: current.session }, clock()));
        if (!isDone(this.lifecycle)) this.opts.log.info(`task ${current.task}#${current.instance} left (session ${current.session})`);
        this.afterEvents();
      }
    });
  }

  /** A pending peer is gone or said hello: it no longer counts against the caps. */
  private leavePending(peer: Peer & { kind: "pending" }): void {
    clearTimeout(peer.deadline);
    if (!peer.counted) return;
    peer.counted = false;
    const n = (this.pendingByIp.get(peer.ip) ?? 1) - 1;
    if (n <= 0) this.pendingByIp.delete(peer.ip);
    else this.pendingByIp.set(peer.ip, n);
    this.pendingCount = Math.max(0, this.pendingCount - 1);
  }

  /**
   * One line for the first refusal before a hello, then one summary per window for the rest of
   * a burst: a thousand bad connections are one problem, not a thousand warnings.
   */
  private refused(addr: string, reason: string): void {
    const r = this.refusals;
    if (!r.timer) {
      this.opts.log.warn(`closing connection from ${addr}: ${reason}`);
      r.timer = setTimeout(() => this.flushRefusals(), REFUSAL_WINDOW_MS);
      return;
    }
    r.count++;
    const kind = reason.replace(/\d+ bytes/, "N bytes");
    r.reasons.set(kind, (r.reasons.get(kind) ?? 0) + 1);
  }

  private flushRefusals(): void {
    const r = this.refusals;
    r.timer = undefined;
    if (r.count === 0) return;
    const reasons = [...r.reasons].sort((a, b) => b[1] - a[1]).map(([why, n]) => `${n} × ${why}`).join("; ");
    this.opts.log.warn(`closed ${r.count} more connection(s) before their hello in ${REFUSAL_WINDOW_MS} ms: ${reasons}`);
    this.refusals = { count: 0, reasons: new Map(), timer: setTimeout(() => this.flushRefusals(), REFUSAL_WINDOW_MS) };
  }

  /** Handles one frame; returns the peer as it is after it (a handshake changes its kind). */
  private onFrame(peer: Peer, frame: unknown): Peer {
    switch (peer.kind) {
      case "pending":
        return this.onHello(peer, frame);
      case "control":
        this.onControl(peer, frame);
        return peer;
      case "task":
        this.onTaskFrame(peer, frame);
        return peer;
      default: {
        const never: never = peer;
        return never;
      }
    }
  }

  private onHello(peer: Peer & { kind: "pending" }, frame: unknown): Peer {
    const hello = parseHello(frame);
    const ctx = { topology: this.opts.topology, version: PROTOCOL_VERSION, instance: this.instanceId, token: this.opts.token, nonce: peer.nonce, stopping: isStopping(this.lifecycle) };
    const refused = refusePeer(hello, ctx);
    if (refused) throw new HandshakeRefused(refused.code, refused.reason);
    this.peers.delete(peer);
    this.leavePending(peer);
    peer.conn.maxFrame = DEFAULT_MAX_FRAME;
    const session = `s${++this.sessionCounter}`;
    if (hello.role === "control") {
      const next: Peer = { kind: "control", conn: peer.conn, addr: peer.addr };
      this.peers.add(next);
      next.conn.send({ type: "welcome", version: PROTOCOL_VERSION, session, heartbeat_ms: this.heartbeatMs, instance: this.instanceId });
      return next;
    }
    const verdict = acceptTask(hello, ctx);
    if (!verdict.ok) throw new HandshakeRefused(verdict.code, verdict.reason);
    const unit = verdict.unit;
    const next: Peer & { kind: "task" } = { kind: "task", conn: peer.conn, addr: peer.addr, session, task: hello.task, instance: hello.instance, unit, outbox: null };
    this.peers.add(next);
    this.sessions.set(session, next);
    next.conn.send({ type: "welcome", version: PROTOCOL_VERSION, session, heartbeat_ms: this.heartbeatMs, instance: this.instanceId, tasks: this.taskNames, lease_ms: this.opts.topology.runtime.message.lease });
    this.run(step(this.pipeline, { type: "session_open", session, task: hello.task }, clock()));
    const missing = this.missingSince.get(unit.leader);
    this.missingSince.delete(unit.leader);
    if (missing?.said) this.opts.log.info(`task ${describeUnit(unit)} connected after ${((clock() - missing.since) / 1000).toFixed(1)} s`);
    this.opts.log.info(`task ${hello.task}#${hello.instance} joined from ${peer.addr} (session ${session}, pid ${hello.pid}${unit.tasks.length > 1 ? `; a worker hosting ${unit.tasks.join(", ")}` : ""})`);
    return next;
  }

  private onTaskFrame(peer: Peer & { kind: "task" }, frame: unknown): void {
    const msg = parseTaskToTopology(frame);
    const now = clock();
    switch (msg.type) {
      case "ready":
        this.run(step(this.pipeline, { type: "credits", session: peer.session, n: msg.credits }, now));
        return;
      case "answers":
        this.onAnswers(peer, msg, now);
        return;
      case "ping":
        this.run(step(this.pipeline, { type: "heard", session: peer.session }, now));
        peer.conn.send({ type: "pong", t: msg.t });
        return;
      case "pong":
        this.run(step(this.pipeline, { type: "heard", session: peer.session }, now));
        return;
      case "bye":
        peer.conn.end();
        return;
      case "hello":
        throw new Error("a second hello on the same connection");
      default: {
        const never: never = msg;
        void never;
      }
    }
  }

  private onAnswers(peer: Peer & { kind: "task" }, msg: Answers, now: number): void {
    const session = peer.session;
    for (const c of msg.calls) this.recordCalls(c);
    const done = this.doneEvent;
    done.session = session;
    for (const [delivery, outputs, producers] of msg.done) {
      done.delivery = delivery;
      done.outputs = outputs ?? NO_OUTPUTS;
      done.producers = producers;
      this.stepHot(done, now);
    }
    done.outputs = NO_OUTPUTS;
    done.producers = undefined;
    for (const [delivery, task, error, where] of msg.fail) {
      this.failFrom = { task: this.taskNames[task] ?? peer.task, instance: peer.instance };
      try {
        this.run(step(this.pipeline, { type: "fail", session, delivery, error, task, ...(where ? { where } : {}) }, now));
      } finally {
        this.failFrom = null;
      }
    }
    this.run(step(this.pipeline, msg.credits > 0 ? { type: "credits", session, n: msg.credits } : { type: "heard", session }, now));
  }

  /** A task's calls since the worker's last frame: [task, handled, errors, sum, max, bucket, count, …]. */
  private recordCalls(c: number[]): void {
    const name = this.taskNames[c[0]!];
    if (name === undefined) return;
    const counts = this.calls.get(name)!;
    counts.handled += c[1]!;
    counts.errors += c[2]!;
    const buckets: Array<[number, number]> = [];
    for (let i = 5; i + 1 < c.length; i += 2) buckets.push([c[i]!, c[i + 1]!]);
    this.latency.get(name)?.merge({ buckets, count: c[1]! + c[2]!, sum: c[3]!, max: c[4]! });
    if (this.opts.onLatency) for (const [bucket, n] of buckets) for (let k = 0; k < n; k++) this.opts.onLatency(name, bucketMs(bucket));
  }

  private onControl(peer: Peer & { kind: "control" }, frame: unknown): void {
    const msg = parseControlToTopology(frame);
    switch (msg.type) {
      case "stats_request":
        peer.conn.send({ type: "stats", stats: this.summary() });
        return;
      case "shutdown_request":
        void this.stop(`shutdown requested from ${peer.addr}`);
        return;
      case "hello":
        throw new Error("a second hello on the same connection");
      default: {
        const never: never = msg;
        void never;
      }
    }
  }

  private refuse(peer: Peer, reason: string, code: RejectCode): void {
    if (peer.kind === "pending") this.refused(peer.addr, reason);
    else this.opts.log.warn(`closing connection from ${peer.addr}: ${reason}`);
    if (peer.kind !== "pending") {
      peer.conn.destroy();
      return;
    }
    // end(), not destroy(): destroy drops what the kernel has not taken yet, and the peer would
    // see a bare close instead of the reason (and retry forever instead of giving up).
    peer.conn.send({ type: "reject", reason, code });
    peer.conn.end();
    setTimeout(() => peer.conn.destroy(), REJECT_LINGER_MS).unref();
  }

  // --- effects -----------------------------------------------------------------------------

  /**
   * step() for the events of every message (a root read, a delivery done), without an array
   * and an event object each: the pipeline keeps neither, so one of each is reused. Garbage
   * collection pauses are the tail of complete latency.
   */
  private stepHot(event: Event, now: number): void {
    if (this.inStepHot) {
      this.run(step(this.pipeline, event, now));
      return;
    }
    const out = this.effects;
    this.inStepHot = true;
    try {
      this.run(step(this.pipeline, event, now, out));
    } finally {
      out.length = 0;
      this.inStepHot = false;
    }
  }

  private run(effects: Effect[]): void {
    let now = -1;
    let oversized: Array<Effect & { type: "deliver" }> | null = null;
    for (const e of effects) {
      switch (e.type) {
        case "deliver": {
          // A frame the task must refuse would cost its connection and everything it holds:
          // fail this one root instead, with its size, and send nothing.
          if (e.payload.length > MAX_DELIVERY_BYTES) {
            (oversized ??= []).push(e);
            break;
          }
          if (awaitsFirstDelivery(this.lifecycle)) this.transition({ type: "first_delivery" });
          const peer = this.sessions.get(e.session);
          if (peer) this.outbox(peer).push([e.delivery, e.rootId, this.edgeIndex(e.edge[0]), this.taskIndex.get(e.edge[1])!, e.attempt, e.payload]);
          break;
        }
        case "ack": {
          this.ackBatch.push(e.rootId);
          if (now < 0) now = clock();
          const ms = now - e.since;
          this.complete.record(ms);
          this.opts.onLatency?.(null, ms);
          break;
        }
        case "dead_letter": {
          const where = e.attempts[e.attempts.length - 1]?.where;
          this.noteError("dead_lettered", e.rootId, e.error, where);
          this.opts.log.warn(`message ${e.rootId} dead-lettered after ${e.attempts.length} attempt(s): ${e.error}${where ? ` at ${where}` : ""}`);
          this.writeDeadLetter(e.rootId, e.payload, e.error, e.attempts);
          break;
        }
        case "retry":
          this.noteError("retried", e.rootId, e.error, e.where);
          this.opts.log.debug(`message ${e.rootId} failed (${e.error}${e.where ? ` at ${e.where}` : ""}); attempt ${e.attempt} in ${Math.round(e.delayMs)} ms`);
          this.retried(e.rootId, e.error, e.where);
          break;
        default: {
          const never: never = e;
          void never;
        }
      }
    }
    for (const e of oversized ?? []) {
      const error = `its delivery (${e.edge[0] === "$join" ? "the join of its parents" : `from ${e.edge[0] || "the source"}`}) takes ${e.payload.length} bytes, above max_frame (${DEFAULT_MAX_FRAME} bytes) with the envelope: it cannot be delivered`;
      this.run(step(this.pipeline, { type: "fail", session: e.session, delivery: e.delivery, error }, clock()));
    }
  }

  /** A task's index on the wire; "$source" and "$join" have their own. */
  private edgeIndex(from: string): number {
    return this.taskIndex.get(from) ?? (from === "$join" ? EDGE_JOIN : EDGE_SOURCE);
  }

  /** Many deliveries go out as one frame per worker and event loop turn. */
  private outbox(peer: Peer & { kind: "task" }): DeliverItem[] {
    if (peer.outbox) return peer.outbox;
    const items: DeliverItem[] = [];
    peer.outbox = items;
    setImmediate(() => {
      peer.outbox = null;
      peer.conn.send({ type: "deliveries", items });
      peer.conn.flush();
    });
    return items;
  }

  /** The first retry of a burst is said at once; the rest of the burst as one line per window. */
  private retried(id: string, error: string, where?: string): void {
    const b = this.retryBurst;
    if (!b.timer) {
      this.opts.log.warn(`message ${id} failed, retrying: ${error}${where ? ` at ${where}` : ""}`);
      b.timer = setTimeout(() => this.flushRetries(), RETRY_WINDOW_MS);
      b.timer.unref?.();
      return;
    }
    b.count++;
    const kind = error.replace(/\d+/g, "N").slice(0, 200);
    b.reasons.set(kind, (b.reasons.get(kind) ?? 0) + 1);
  }

  private flushRetries(): void {
    const b = this.retryBurst;
    b.timer = undefined;
    if (b.count === 0) return;
    const top = [...b.reasons].sort((x, y) => y[1] - x[1]).slice(0, 3).map(([why, n]) => `${n} × ${why}`).join("; ");
    this.opts.log.warn(`${b.count} more message(s) failed in ${RETRY_WINDOW_MS / 1000} s and will be retried: ${top}`);
    this.retryBurst = { count: 0, reasons: new Map(), timer: setTimeout(() => this.flushRetries(), RETRY_WINDOW_MS) };
    this.retryBurst.timer?.unref?.();
  }

  /** Says once when a worker has been missing long enough not to be start-up: its work waits, nothing fails. */
  private noteMissingWorkers(now: number): void {
    const missing = new Set(tasksWithoutSession(this.pipeline));
    for (const u of this.units) {
      if (!missing.has(u.leader)) {
        this.missingSince.delete(u.leader);
        continue;
      }
      let m = this.missingSince.get(u.leader);
      if (!m) this.missingSince.set(u.leader, (m = { since: now, said: false }));
      if (m.said || now - m.since < WAIT_SAID_AFTER_MS || isStopping(this.lifecycle)) continue;
      m.said = true;
      this.opts.log.warn(`waiting for task ${describeUnit(u)} to connect: nothing is read from the source until it does (waiting is not failing: what is in flight is not timed out)`);
    }
  }

  private noteError(outcome: RecentError["outcome"], msgId: string, error: string, where?: string): void {
    this.recentErrors.push({ at: Date.now(), outcome, msg_id: msgId, error: error.slice(0, 500), task: this.failFrom?.task ?? null, instance: this.failFrom?.instance ?? null, ...(where ? { where } : {}) });
    if (this.recentErrors.length > RECENT_ERRORS) this.recentErrors.shift();
  }

  private writeDeadLetter(id: string, payload: Uint8Array | string, error: string, attempts: AttemptRecord[]): void {
    this.transition({ type: "write_started" });
    // The pipeline's clock is wall-clock ms; letters carry ISO times like their own `at`.
    const records = attempts.map((a) => ({ attempt: a.attempt, error: a.error, at: new Date(a.at).toISOString(), ...(a.where ? { where: a.where } : {}) }));
    this.opts.source
      .deadLetter({ id, payload, error, attempts: records })
      .then(() => this.opts.source.ack([id]))
      .catch((e) => this.opts.log.error(`could not write dead letter for ${id}: ${(e as Error).message}; it stays unacked at the source`))
      .finally(() => {
        this.transition({ type: "write_settled" });
        this.afterEvents();
      });
  }

  /** After a batch of events: ack what completed, refill from the source, see if we are done. */
  private afterEvents(): void {
    if (this.ackBatch.length >= ACK_BATCH) this.flushAcks();
    else if (this.ackBatch.length && !this.ackTimer) this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
    void this.pump();
    this.checkFinished();
  }

  /** Acks go out in batches (one XACK of many ids beats many XACKs): at most ACK_DELAY_MS late. */
  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.ackBatch.length === 0) return;
    const ids = this.ackBatch;
    this.ackBatch = [];
    this.opts.source.ack(ids).catch((e) => this.opts.log.warn(`ack failed, the source will redeliver: ${(e as Error).message}`));
  }

  private async pump(): Promise<void> {
    if (this.pumping || !readsSource(this.lifecycle)) return;
    this.pumping = true;
    try {
      while (readsSource(this.lifecycle) && !this.opts.source.exhausted()) {
        const room = capacity(this.pipeline);
        if (room <= 0) break;
        const { messages, rejects } = await this.opts.source.poll(Math.min(room, POLL_BATCH));
        if (messages.length === 0 && rejects.length === 0) break;
        const now = clock();
        this.read += messages.length + rejects.length;
        const source = this.sourceEvent;
        for (const m of messages) {
          source.id = m.id;
          source.payload = m.payload;
          source.attempt = m.attempt;
          this.stepHot(source, now);
        }
        source.payload = NO_PAYLOAD;
        for (const r of rejects) {
          this.deadLetteredAtSource++;
          this.opts.log.warn(`message ${r.id} dead-lettered: ${r.error}`);
          this.writeDeadLetter(r.id, r.raw, r.error, []);
        }
        if (this.ackBatch.length) {
          const ids = this.ackBatch;
          this.ackBatch = [];
          await this.opts.source.ack(ids);
        }
      }
    } catch (e) {
      const why = (e as Error).message;
      if (this.sourceError !== why) this.opts.log.error(`source ${this.opts.source.type} failed: ${why}; retrying`);
      this.sourceError = why;
    } finally {
      this.pumping = false;
    }
    this.checkFinished();
  }

  private tick(): void {
    const now = clock();
    this.run(step(this.pipeline, { type: "tick" }, now));
    this.noteMissingWorkers(now);
    // Past a stop's deadline: done, with what is unfinished left at the source.
    if (this.transition({ type: "tick", inflight: inflightRoots(this.pipeline) }, now) && isDone(this.lifecycle)) return;
    this.afterEvents();
  }

  private heartbeat(): void {
    const now = clock();
    for (const peer of this.peers) {
      if (now - peer.conn.lastSeen > this.heartbeatMs * 5) {
        this.opts.log.warn(`dropping ${peer.kind === "task" ? `task ${peer.task}#${peer.instance}` : "connection"} from ${peer.addr}: silent for ${Math.round(now - peer.conn.lastSeen)} ms`);
        peer.conn.destroy();
        continue;
      }
      if (peer.kind !== "pending") peer.conn.send({ type: "ping", t: now });
    }
  }

  /** Whether the work is over: the lifecycle decides from these facts (done, finishing, or not yet). */
  private checkFinished(): void {
    this.transition({ type: "check", polling: this.pumping, sessions: this.sessions.size, inflight: inflightRoots(this.pipeline), exhausted: this.opts.source.exhausted() });
  }

  private stop(reason: string, opts: { drain?: boolean } = {}): Promise<TopologySummary> {
    const drain = opts.drain !== false;
    const drainMs = this.opts.drainMs ?? this.opts.topology.runtime.message.timeout + 1000;
    if (this.transition({ type: "stop_requested", reason, drain, drainMs, inflight: inflightRoots(this.pipeline) })) this.checkFinished();
    return this.finished;
  }

  /**
   * The one place the lifecycle changes (core/topology/lifecycle.ts): it says what the change
   * says, and entering `done` finishes. True when something changed.
   */
  private transition(event: LifecycleEvent, now = clock()): boolean {
    const before = this.lifecycle;
    const { state, log } = nextLifecycle(before, event, now);
    if (state === before) return false;
    this.lifecycle = state;
    if (log) this.opts.log[log.level](log.text);
    if (state.state === "done") this.finish();
    return true;
  }

  /** Carries out `done`: once, from `transition`. */
  private finish(): void {
    this.flushAcks(); // before the source closes
    for (const t of this.timers) clearInterval(t);
    for (const peer of this.peers) {
      if (peer.kind === "task") peer.conn.send({ type: "shutdown" });
      peer.conn.end();
    }
    this.server?.close();
    clearTimeout(this.refusals.timer);
    clearTimeout(this.retryBurst.timer);
    const summary = this.summary();
    void this.opts.source.close().finally(() => this.resolveFinished(summary));
  }
}

const NO_OUTPUTS: Uint8Array[] = [];
const NO_PAYLOAD = new Uint8Array(0);

/** "`split`", or "`A` (with `B`, `C`)" for a fused worker. */
function describeUnit(u: WorkerUnit): string {
  return u.tasks.length > 1 ? `\`${u.leader}\` (a worker with ${u.tasks.slice(1).map((t) => `\`${t}\``).join(", ")})` : `\`${u.leader}\``;
}
