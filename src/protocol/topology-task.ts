/**
 * The topology ⇄ task channel (DESIGN.md §4), plus the control client that shares the
 * topology's port. One frame = one message; every message is a plain object tagged by `type`.
 *
 * Handshake: the client's first frame is `hello` (role "task" or "control"); the topology
 * answers `welcome` or `reject`. Flow control: `ready { credits }` adds credits, each `deliver`
 * spends one, each `done`/`fail` for it returns one. Heartbeats: `ping`/`pong` both ways.
 *
 * Validators run once at the codec boundary; unknown fields are ignored (forward compatible)
 * and stay on the returned object: never forward a parsed message to another peer as is.
 */
import { CodecError } from "../codec/errors.ts";

export const PROTOCOL_VERSION = 1;

export const Role = { task: "task", control: "control" } as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Every `type` on this channel. Strings on the wire, never numbers. */
export const MsgType = {
  hello: "hello",
  ready: "ready",
  done: "done",
  fail: "fail",
  ping: "ping",
  pong: "pong",
  bye: "bye",
  welcome: "welcome",
  challenge: "challenge",
  reject: "reject",
  deliver: "deliver",
  shutdown: "shutdown",
  stats_request: "stats_request",
  stats: "stats",
  shutdown_request: "shutdown_request",
} as const;

// ---- task → topology -------------------------------------------------------------------
export interface TaskHello {
  type: "hello";
  version: number;
  role: "task";
  topology: string;
  task: string;
  instance: string;
  pid: number;
  /** Token proof (DESIGN.md §11), present when TEMPEST_TOKEN is set. */
  proof?: string;
  /**
   * The topology instance this task belongs to (a `welcome.instance` it saw before, or the one
   * `tempest run` started it for). A topology with another instance id refuses it (`instance`).
   */
  topology_instance?: string;
}
/** Adds `credits` to what the topology may deliver. */
export interface Ready { type: "ready"; credits: number }
/** `outputs`: each item is the CBOR encoding of one user message. `ms`: handler duration. */
export interface Done { type: "done"; delivery: number; outputs: Uint8Array[]; ms: number }
/** `where`: the first stack frames in the user's own files (`src/tasks/a.ts:12:9; …`), if any. */
export interface Fail { type: "fail"; delivery: number; error: string; ms: number; where?: string }
export interface Ping { type: "ping"; t: number }
export interface Pong { type: "pong"; t: number }
/** Graceful leave. */
export interface Bye { type: "bye" }

export type TaskToTopology = TaskHello | Ready | Done | Fail | Ping | Pong | Bye;

// ---- topology → task -------------------------------------------------------------------
/**
 * The topology's first frame on every connection: a fresh nonce. The peer answers with its
 * hello, whose `proof` is HMAC-SHA256(TEMPEST_TOKEN, nonce) when a token is set (DESIGN.md §11),
 * so a recorded hello cannot be replayed on another connection.
 */
export interface Challenge { type: "challenge"; nonce: string }
/** `instance`: this topology process's instance id, new for every start (older topologies omit it). */
export interface Welcome { type: "welcome"; version: number; session: string; heartbeat_ms: number; nonce?: string; instance?: string }
/** Why a handshake was refused, as data: peers decide on `code`, never on the text of `reason`. */
export const RejectCode = {
  version: "version",
  auth: "auth",
  topology: "topology",
  task: "task",
  stopping: "stopping",
  instance: "instance",
  malformed: "malformed",
  /** No hello within the deadline (DESIGN.md §11: pre-auth costs are bounded). */
  timeout: "timeout",
} as const;
export type RejectCode = (typeof RejectCode)[keyof typeof RejectCode];
/** `code` is absent from older topologies. */
export interface Reject { type: "reject"; reason: string; code?: RejectCode }
/** `msg`: the CBOR of the user's message as its own byte string, decoded only by the task. */
export interface Deliver {
  type: "deliver";
  delivery: number;
  topology_id: string;
  msg_id: string;
  edge: [string, string];
  attempt: number;
  msg: Uint8Array;
}
/** Finish in-flight work, then leave. */
export interface Shutdown { type: "shutdown" }

export type TopologyToTask = Challenge | Welcome | Reject | Deliver | Ping | Pong | Shutdown;

// ---- control client → topology (and the answer) ----------------------------------------
export interface ControlHello { type: "hello"; version: number; role: "control"; proof?: string }
export interface StatsRequest { type: "stats_request" }
export interface ShutdownRequest { type: "shutdown_request" }
export interface Stats { type: "stats"; stats: unknown }

export type ControlToTopology = ControlHello | StatsRequest | ShutdownRequest;
/** The topology answers a control client with these (and welcome/reject/ping/pong). */
export type TopologyToControl = Challenge | Welcome | Reject | Stats | Ping | Pong;

/**
 * One handler per message kind, typed by a mapped type over `type`: adding a kind to a union
 * breaks compilation of every table until it is handled.
 */
export type HandlerTable<M extends { type: string }, R = void> = {
  [K in M["type"]]: (msg: Extract<M, { type: K }>) => R;
};
/** Short name for HandlerTable. */
export type Handler<M extends { type: string }, R = void> = HandlerTable<M, R>;

export function dispatch<M extends { type: string }, R>(table: HandlerTable<M, R>, msg: M): R {
  return (table[msg.type as M["type"]] as (m: M) => R)(msg);
}

/** A handshake refused for a reason the peer can act on; the topology sends it as `reject`. */
export class HandshakeRefused extends Error {
  constructor(readonly code: RejectCode, message: string) {
    super(message);
    this.name = "HandshakeRefused";
  }
}

// ---- validators ------------------------------------------------------------------------
type Obj = Record<string, unknown>;

function bad(where: string, what: string): never {
  throw new CodecError("E_FRAME_MALFORMED", `${where}: ${what}`);
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (v instanceof Uint8Array) return "bytes";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function obj(v: unknown, channel: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    bad(channel, `expected a message object, got ${kind(v)}`);
  }
  const type = (v as Obj).type;
  if (typeof type !== "string") bad(channel, `message has no string "type" (got ${kind(type)})`);
  return v as Obj;
}

function str(m: Obj, f: string): void {
  if (typeof m[f] !== "string") bad(`${m.type}.${f}`, `expected a string, got ${kind(m[f])}`);
}
function optStr(m: Obj, f: string): void {
  if (m[f] !== undefined && typeof m[f] !== "string") bad(`${m.type}.${f}`, `expected a string, got ${kind(m[f])}`);
}
/** Non-negative safe integer: counts, ids, versions. */
function uint(m: Obj, f: string): void {
  const x = m[f];
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) {
    bad(`${m.type}.${f}`, `expected a non-negative integer, got ${typeof x === "number" ? x : kind(x)}`);
  }
}
/** Finite number: durations and timestamps. */
function num(m: Obj, f: string): void {
  const x = m[f];
  if (typeof x !== "number" || !Number.isFinite(x)) bad(`${m.type}.${f}`, `expected a finite number, got ${typeof x === "number" ? x : kind(x)}`);
}
function bytes(m: Obj, f: string): void {
  if (!(m[f] instanceof Uint8Array)) bad(`${m.type}.${f}`, `expected a byte string, got ${kind(m[f])}`);
}

function unknownType(channel: string, type: unknown): never {
  bad(channel, `unknown message type ${JSON.stringify(type)}`);
}

function helloCommon(m: Obj, role: Role): void {
  uint(m, "version");
  if (m.role !== role) bad("hello.role", `expected "${role}", got ${JSON.stringify(m.role) ?? "undefined"}`);
  optStr(m, "proof");
}

function parseTaskHello(m: Obj): TaskHello {
  helloCommon(m, "task");
  str(m, "topology");
  str(m, "task");
  str(m, "instance");
  uint(m, "pid");
  optStr(m, "topology_instance");
  return m as unknown as TaskHello;
}

function parseControlHello(m: Obj): ControlHello {
  helloCommon(m, "control");
  return m as unknown as ControlHello;
}

/**
 * The first frame a topology reads from a new connection: a task's or a control client's
 * hello, told apart by `role`. The version is checked for type only; comparing it with
 * PROTOCOL_VERSION (and rejecting) is the topology's decision.
 */
export function parseHello(v: unknown): TaskHello | ControlHello {
  const m = obj(v, "hello");
  if (m.type !== "hello") bad("hello", `expected the "hello" handshake first, got ${JSON.stringify(m.type)}`);
  if (m.role === "control") return parseControlHello(m);
  return parseTaskHello(m);
}

function ping(m: Obj): Ping | Pong {
  num(m, "t");
  return m as unknown as Ping | Pong;
}

export function parseTaskToTopology(v: unknown): TaskToTopology {
  const m = obj(v, "task→topology");
  switch (m.type) {
    case "done": {
      uint(m, "delivery");
      num(m, "ms");
      const outputs = m.outputs;
      if (!Array.isArray(outputs)) bad("done.outputs", `expected an array, got ${kind(outputs)}`);
      for (let i = 0; i < outputs.length; i++) {
        if (!(outputs[i] instanceof Uint8Array)) bad(`done.outputs[${i}]`, `expected a byte string, got ${kind(outputs[i])}`);
      }
      return m as unknown as Done;
    }
    case "ready":
      uint(m, "credits");
      return m as unknown as Ready;
    case "fail":
      uint(m, "delivery");
      str(m, "error");
      num(m, "ms");
      optStr(m, "where");
      return m as unknown as Fail;
    case "ping":
    case "pong":
      return ping(m);
    case "bye":
      return m as unknown as Bye;
    case "hello":
      return parseTaskHello(m);
    default:
      return unknownType("task→topology", m.type);
  }
}

export function parseTopologyToTask(v: unknown): TopologyToTask {
  const m = obj(v, "topology→task");
  switch (m.type) {
    case "deliver": {
      uint(m, "delivery");
      str(m, "topology_id");
      str(m, "msg_id");
      uint(m, "attempt");
      bytes(m, "msg");
      const edge = m.edge;
      if (!Array.isArray(edge) || edge.length !== 2 || typeof edge[0] !== "string" || typeof edge[1] !== "string") {
        bad("deliver.edge", "expected [from, to], two strings");
      }
      return m as unknown as Deliver;
    }
    case "ping":
    case "pong":
      return ping(m);
    case "welcome":
      uint(m, "version");
      str(m, "session");
      uint(m, "heartbeat_ms");
      optStr(m, "nonce");
      optStr(m, "instance");
      return m as unknown as Welcome;
    case "reject":
      str(m, "reason");
      optStr(m, "code");
      return m as unknown as Reject;
    case "challenge":
      str(m, "nonce");
      return m as unknown as Challenge;
    case "shutdown":
      return m as unknown as Shutdown;
    default:
      return unknownType("topology→task", m.type);
  }
}

export function parseControlToTopology(v: unknown): ControlToTopology {
  const m = obj(v, "control→topology");
  switch (m.type) {
    case "stats_request":
      return m as unknown as StatsRequest;
    case "shutdown_request":
      return m as unknown as ShutdownRequest;
    case "hello":
      return parseControlHello(m);
    default:
      return unknownType("control→topology", m.type);
  }
}

/** What a control client reads back. `stats` is opaque here; its shape belongs to core/stats. */
export function parseTopologyToControl(v: unknown): TopologyToControl {
  const m = obj(v, "topology→control");
  if (m.type === "stats") {
    if (!("stats" in m)) bad("stats.stats", "missing");
    return m as unknown as Stats;
  }
  if (m.type === "ping" || m.type === "pong" || m.type === "welcome" || m.type === "reject" || m.type === "challenge") {
    return parseTopologyToTask(m) as TopologyToControl;
  }
  return unknownType("topology→control", m.type);
}
