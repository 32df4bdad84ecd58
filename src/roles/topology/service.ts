import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { DEFAULT_MAX_FRAME, cborJoinMap, isCodecError } from "../../codec/index.ts";
import { TempestError } from "../../core/errors.ts";
import { isLoopback, newNonce, verifyProof } from "../../core/auth.ts";
import { capacity, createPipeline, isIdle, stats, step, type AttemptRecord, type Effect, type PipelineState, type TaskSpec } from "../../core/pipeline/index.ts";
import type { Topology } from "../../core/project/model.ts";
import type { Source } from "../../core/sources/types.ts";
import { Histogram } from "../../core/stats/histogram.ts";
import { HandshakeRefused, PROTOCOL_VERSION, type RejectCode, parseControlToTopology, parseHello, parseTaskToTopology } from "../../protocol/topology-task.ts";
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
  | { kind: "task"; conn: FramedConnection; addr: string; session: string; task: string; instance: string }
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
  /** From read to ack, per root (DESIGN.md §12); `readAt` holds the roots in flight. */
  private readonly complete = new Histogram();
  private readonly readAt = new Map<string, number>();
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
  /** Throughput is measured from the first delivery: start-up (tasks connecting) is not work. */
  private startedAt = clock();
  private delivering = false;
  private pumping = false;
  private stopping = false;
  private stopDeadline = Infinity;
  private pendingWrites = 0;
  private ackBatch: string[] = [];
  private ackTimer?: ReturnType<typeof setTimeout>;
  private timers: ReturnType<typeof setInterval>[] = [];
  private sourceError?: string;
  private resolveFinished!: (s: TopologySummary) => void;
  private readonly finished = new Promise<TopologySummary>((r) => (this.resolveFinished = r));
  private done = false;
  private readonly heartbeatMs: number;
  private readonly pendingByIp = new Map<string, number>();
  private pendingCount = 0;
  private refusals: { count: number; reasons: Map<string, number>; timer?: ReturnType<typeof setTimeout> } = { count: 0, reasons: new Map() };

  constructor(private readonly opts: TopologyOptions) {
    const t = opts.topology;
    const runtime = t.runtime;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.pipeline = createPipeline({
      topology: t.name,
      tasks: taskSpecs(t),
      timeoutMs: runtime.message.timeout,
      retry: runtime.message.retry,
      maxPending: runtime.message.max_pending,
      backoff: { initialMs: 100, maxMs: 10_000, factor: 2 },
      leaseMs: runtime.message.timeout,
      encodeJoin: cborJoinMap,
    });
    for (const task of t.dag.tasks) this.latency.set(task, new Histogram());
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
      stats: stats(this.pipeline),
      latency: this.latency,
      complete: this.complete,
      recentErrors: this.recentErrors,
      lag: this.opts.source.health().lag,
      startedAt: this.startedAt,
      now: clock(),
      sessions: this.sessions.size,
      exhausted: this.opts.source.exhausted(),
    });
  }

  // --- connections -------------------------------------------------------------------------

  private accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? "?";
    const addr = `${ip}:${socket.remotePort}`;
    const fromIp = this.pendingByIp.get(ip) ?? 0;
    if (this.done || fromIp >= MAX_PENDING_PER_ADDRESS || this.pendingCount >= MAX_PENDING) {
      this.refused(addr, this.done ? "the topology has finished" : fromIp >= MAX_PENDING_PER_ADDRESS ? `${MAX_PENDING_PER_ADDRESS} connections from ${ip} are already waiting to say hello` : `${MAX_PENDING} connections are already waiting to say hello`);
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
        if (!this.done) this.opts.log.info(`task ${current.task}#${current.instance} left (session ${current.session})`);
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
    }
  }

  private onHello(peer: Peer & { kind: "pending" }, frame: unknown): Peer {
    const hello = parseHello(frame);
    if (hello.version !== PROTOCOL_VERSION) {
      throw new HandshakeRefused("version", `protocol version ${hello.version} is not supported (this topology speaks ${PROTOCOL_VERSION})`);
    }
    if (this.opts.token && !verifyProof(this.opts.token, peer.nonce, hello.proof)) {
      throw new HandshakeRefused("auth", "authentication failed: the hello does not prove knowledge of this topology's TEMPEST_TOKEN");
    }
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
    if (hello.topology !== this.opts.topology.name) throw new HandshakeRefused("topology", `this is topology \`${this.opts.topology.name}\`, not \`${hello.topology}\``);
    if (!this.opts.topology.dag.tasks.includes(hello.task)) throw new HandshakeRefused("task", `topology \`${this.opts.topology.name}\` has no task \`${hello.task}\``);
    if (hello.topology_instance !== undefined && hello.topology_instance !== this.instanceId) {
      throw new HandshakeRefused("instance", `this is instance ${this.instanceId} of topology \`${this.opts.topology.name}\`, not ${hello.topology_instance}, the one the task belongs to`);
    }
    if (this.stopping) throw new HandshakeRefused("stopping", "the topology is stopping");
    const next: Peer & { kind: "task" } = { kind: "task", conn: peer.conn, addr: peer.addr, session, task: hello.task, instance: hello.instance };
    this.peers.add(next);
    this.sessions.set(session, next);
    next.conn.send({ type: "welcome", version: PROTOCOL_VERSION, session, heartbeat_ms: this.heartbeatMs, instance: this.instanceId });
    this.run(step(this.pipeline, { type: "session_open", session, task: hello.task }, clock()));
    this.opts.log.info(`task ${hello.task}#${hello.instance} joined from ${peer.addr} (session ${session}, pid ${hello.pid})`);
    return next;
  }

  private onTaskFrame(peer: Peer & { kind: "task" }, frame: unknown): void {
    const msg = parseTaskToTopology(frame);
    const now = clock();
    switch (msg.type) {
      case "ready":
        this.run(step(this.pipeline, { type: "credits", session: peer.session, n: msg.credits }, now));
        return;
      case "done":
        this.latency.get(peer.task)?.record(msg.ms);
        this.opts.onLatency?.(peer.task, msg.ms);
        this.run(step(this.pipeline, { type: "done", session: peer.session, delivery: msg.delivery, outputs: msg.outputs }, now));
        return;
      case "fail":
        this.latency.get(peer.task)?.record(msg.ms);
        this.opts.onLatency?.(peer.task, msg.ms);
        this.failFrom = { task: peer.task, instance: peer.instance };
        try {
          this.run(step(this.pipeline, { type: "fail", session: peer.session, delivery: msg.delivery, error: msg.error, ...(msg.where ? { where: msg.where } : {}) }, now));
        } finally {
          this.failFrom = null;
        }
        return;
      case "ping":
        peer.conn.send({ type: "pong", t: msg.t });
        return;
      case "pong":
        return;
      case "bye":
        peer.conn.end();
        return;
      case "hello":
        throw new Error("a second hello on the same connection");
    }
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

  private run(effects: Effect[]): void {
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
          if (!this.delivering) {
            this.delivering = true;
            this.startedAt = clock();
          }
          const peer = this.sessions.get(e.session);
          peer?.conn.send({ type: "deliver", delivery: e.delivery, topology_id: this.opts.topology.name, msg_id: e.rootId, edge: e.edge, attempt: e.attempt, msg: e.payload });
          break;
        }
        case "ack": {
          this.ackBatch.push(e.rootId);
          const at = this.readAt.get(e.rootId);
          if (at !== undefined) {
            const ms = clock() - at;
            this.complete.record(ms);
            this.opts.onLatency?.(null, ms);
            this.readAt.delete(e.rootId);
          }
          break;
        }
        case "dead_letter":
          this.readAt.delete(e.rootId);
          const where = e.attempts[e.attempts.length - 1]?.where;
          this.noteError("dead_lettered", e.rootId, e.error, where);
          this.opts.log.warn(`message ${e.rootId} dead-lettered after ${e.attempts.length} attempt(s): ${e.error}${where ? ` at ${where}` : ""}`);
          this.writeDeadLetter(e.rootId, e.payload, e.error, e.attempts);
          break;
        case "retry":
          this.noteError("retried", e.rootId, e.error, e.where);
          this.opts.log.debug(`message ${e.rootId} failed (${e.error}${e.where ? ` at ${e.where}` : ""}); attempt ${e.attempt} in ${Math.round(e.delayMs)} ms`);
          break;
      }
    }
    for (const e of oversized ?? []) {
      const error = `its delivery (${e.edge[0] === "$join" ? "the join of its parents" : `from ${e.edge[0] || "the source"}`}) takes ${e.payload.length} bytes, above max_frame (${DEFAULT_MAX_FRAME} bytes) with the envelope: it cannot be delivered`;
      this.run(step(this.pipeline, { type: "fail", session: e.session, delivery: e.delivery, error }, clock()));
    }
  }

  private noteError(outcome: RecentError["outcome"], msgId: string, error: string, where?: string): void {
    this.recentErrors.push({ at: Date.now(), outcome, msg_id: msgId, error: error.slice(0, 500), task: this.failFrom?.task ?? null, instance: this.failFrom?.instance ?? null, ...(where ? { where } : {}) });
    if (this.recentErrors.length > RECENT_ERRORS) this.recentErrors.shift();
  }

  private writeDeadLetter(id: string, payload: Uint8Array | string, error: string, attempts: AttemptRecord[]): void {
    this.pendingWrites++;
    // The pipeline's clock is wall-clock ms; letters carry ISO times like their own `at`.
    const records = attempts.map((a) => ({ attempt: a.attempt, error: a.error, at: new Date(a.at).toISOString(), ...(a.where ? { where: a.where } : {}) }));
    this.opts.source
      .deadLetter({ id, payload, error, attempts: records })
      .then(() => this.opts.source.ack([id]))
      .catch((e) => this.opts.log.error(`could not write dead letter for ${id}: ${(e as Error).message}; it stays unacked at the source`))
      .finally(() => {
        this.pendingWrites--;
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
    if (this.pumping || this.stopping || this.done) return;
    this.pumping = true;
    try {
      while (!this.stopping && !this.opts.source.exhausted()) {
        const room = capacity(this.pipeline);
        if (room <= 0) break;
        const { messages, rejects } = await this.opts.source.poll(Math.min(room, POLL_BATCH));
        if (messages.length === 0 && rejects.length === 0) break;
        const now = clock();
        this.read += messages.length + rejects.length;
        for (const m of messages) {
          if (!this.readAt.has(m.id)) this.readAt.set(m.id, now);
          this.run(step(this.pipeline, { type: "source", id: m.id, payload: m.payload, attempt: m.attempt }, now));
        }
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
    if (this.stopping && now > this.stopDeadline && !this.done) {
      this.opts.log.warn(`stopping with ${stats(this.pipeline).roots.inflight} message(s) unfinished; they stay unacked at the source`);
      this.finish();
      return;
    }
    this.afterEvents();
  }

  private heartbeat(): void {
    const now = clock();
    for (const peer of this.peers) {
      if (now - peer.conn.lastSeen > this.heartbeatMs * 5) {
        this.opts.log.warn(`dropping ${peer.kind === "task" ? `task ${peer.task}#${peer.instance}` : "connection"} from ${peer.addr}: silent for ${now - peer.conn.lastSeen} ms`);
        peer.conn.destroy();
        continue;
      }
      if (peer.kind !== "pending") peer.conn.send({ type: "ping", t: now });
    }
  }

  private checkFinished(): void {
    if (this.done || this.pumping || this.pendingWrites > 0) return;
    if (this.stopping && this.sessions.size === 0 && !isIdle(this.pipeline)) {
      // Nobody is left to finish them: waiting for the drain deadline would only delay the exit.
      this.opts.log.warn(`stopping with ${stats(this.pipeline).roots.inflight} message(s) unfinished and no task connected; they stay unacked at the source`);
      this.finish();
      return;
    }
    if (!isIdle(this.pipeline)) return;
    if (this.stopping || this.opts.source.exhausted()) this.finish();
  }

  private stop(reason: string, opts: { drain?: boolean } = {}): Promise<TopologySummary> {
    if (this.done) return this.finished;
    const drain = opts.drain !== false;
    if (!this.stopping || !drain) {
      const inflight = stats(this.pipeline).roots.inflight;
      this.opts.log.info(drain ? `stopping (${reason}): no new messages; finishing ${inflight} in flight` : `stopping (${reason}): no new messages; ${inflight} in flight stay at the source`);
      this.stopping = true;
      this.stopDeadline = Math.min(this.stopDeadline, clock() + (drain ? (this.opts.drainMs ?? this.opts.topology.runtime.message.timeout + 1000) : 0));
      this.checkFinished();
    }
    return this.finished;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.flushAcks(); // before the source closes
    for (const t of this.timers) clearInterval(t);
    for (const peer of this.peers) {
      if (peer.kind === "task") peer.conn.send({ type: "shutdown" });
      peer.conn.end();
    }
    this.server?.close();
    clearTimeout(this.refusals.timer);
    const summary = this.summary();
    void this.opts.source.close().finally(() => this.resolveFinished(summary));
  }
}

/** The pipeline's view of a topology: parents, children and join mode of every task. */
export function taskSpecs(t: Topology): TaskSpec[] {
  const join = new Map(t.tasks.map((x) => [x.name, x.join]));
  return t.dag.tasks.map((name) => ({
    name,
    parents: t.dag.edges.filter(([, to]) => to === name).map(([from]) => from),
    children: t.dag.edges.filter(([from]) => from === name).map(([, to]) => to),
    join: join.get(name) ?? "union",
  }));
}
