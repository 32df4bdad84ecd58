/**
 * The topology ⇄ task channel (DESIGN.md §4), plus the control client that shares the
 * topology's port. One frame = one message; every message is a plain object tagged by `type`.
 *
 * Handshake: the topology's first frame is `challenge`; the client answers `hello` (role "task"
 * or "control"); the topology answers `welcome` or `reject`. A task's hello names the tasks its
 * process hosts (a fused worker hosts several). Work goes in batches: one `deliveries` frame
 * carries many deliveries, one `answers` frame many done/fail results. Flow control: credits
 * come only from `ready { credits }` and `answers.credits`; each delivery spends one. So a
 * worker decides how much it holds (core/pipeline: a slow one holds little). Heartbeats:
 * `ping`/`pong` both ways; any frame renews the sender's leases.
 *
 * Validators run once at the codec boundary; unknown fields are ignored (forward compatible)
 * and stay on the returned object: never forward a parsed message to another peer as is.
 */
import { CodecError } from "../codec/errors.ts";

/** 2: batched `deliveries`/`answers`, explicit credits, fused workers (`hello.tasks`). */
export const PROTOCOL_VERSION = 2;

export const Role = { task: "task", control: "control" } as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Every `type` on this channel. Strings on the wire, never numbers. */
export const MsgType = {
  hello: "hello",
  ready: "ready",
  answers: "answers",
  ping: "ping",
  pong: "pong",
  bye: "bye",
  welcome: "welcome",
  challenge: "challenge",
  reject: "reject",
  deliveries: "deliveries",
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
  /** Every task this process hosts, `task` first (a fused worker); absent: `task` alone. */
  tasks?: string[];
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
/**
 * `outputs`: the CBOR of each message that leaves the process; `producers[i]`: the task index
 * (in `welcome.tasks`) that returned outputs[i]. A delivery with no outputs is `[delivery]`.
 */
export type DoneItem = [delivery: number, outputs?: Uint8Array[], producers?: number[]];
/** `task`: the index of the task that threw; `where`: its first stack frames in the user's own files (`src/tasks/a.ts:12:9; …`), or "". */
export type FailItem = [delivery: number, task: number, error: string, where: string];
/**
 * The handler calls one task made since the last frame: counts and a latency histogram
 * (core/stats/histogram.ts buckets), flat: [task, handled, errors, sum ms, max ms, bucket, count, …].
 * Per frame, not per delivery: a delivery through a fused worker makes several calls.
 */
export type TaskCalls = number[];
/** Results of many deliveries, the calls they made, and `credits` more the topology may deliver. */
export interface Answers { type: "answers"; credits: number; done: DoneItem[]; fail: FailItem[]; calls: TaskCalls[] }
export interface Ping { type: "ping"; t: number }
export interface Pong { type: "pong"; t: number }
/** Graceful leave. */
export interface Bye { type: "bye" }

export type TaskToTopology = TaskHello | Ready | Answers | Ping | Pong | Bye;

// ---- topology → task -------------------------------------------------------------------
/**
 * The topology's first frame on every connection: a fresh nonce. The peer answers with its
 * hello, whose `proof` is HMAC-SHA256(TEMPEST_TOKEN, nonce) when a token is set (DESIGN.md §11),
 * so a recorded hello cannot be replayed on another connection.
 */
export interface Challenge { type: "challenge"; nonce: string }
/**
 * `instance`: this topology process's instance id, new for every start. `tasks`: the topology's
 * tasks in the order that task indices in `answers` refer to.
 */
export interface Welcome { type: "welcome"; version: number; session: string; heartbeat_ms: number; nonce?: string; instance?: string; tasks?: string[]; /** A silent worker's leases lapse after this: ping well within it. */ lease_ms?: number }
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
/**
 * One delivery: the envelope of DESIGN.md §4 as a tuple (the topology is the session's). The
 * edge is [from, to] as task indices in `welcome.tasks`, `from` being EDGE_SOURCE for the
 * source's message and EDGE_JOIN for a join's. `msg`: the CBOR of the user's message as its own
 * byte string, decoded only by the worker.
 */
export type DeliverItem = [delivery: number, msg_id: string, from: number, to: number, attempt: number, msg: Uint8Array];
export const EDGE_SOURCE = -1;
export const EDGE_JOIN = -2;
export interface Deliveries { type: "deliveries"; items: DeliverItem[] }
/** Finish in-flight work, then leave. */
export interface Shutdown { type: "shutdown" }

export type TopologyToTask = Challenge | Welcome | Reject | Deliveries | Ping | Pong | Shutdown;

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
function optStrings(m: Obj, f: string): void {
  const x = m[f];
  if (x === undefined) return;
  if (!Array.isArray(x) || x.some((t) => typeof t !== "string")) bad(`${m.type}.${f}`, `expected an array of strings, got ${kind(x)}`);
}
function isUint(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}
function array(x: unknown, where: string): unknown[] {
  if (!Array.isArray(x)) bad(where, `expected an array, got ${kind(x)}`);
  return x;
}
function parseAnswers(m: Obj): Answers {
  uint(m, "credits");
  const done = array(m.done, "answers.done");
  for (let i = 0; i < done.length; i++) {
    const w = `answers.done[${i}]`;
    const d = array(done[i], w);
    if (!isUint(d[0])) bad(`${w}.delivery`, `expected a non-negative integer, got ${kind(d[0])}`);
    if (d.length === 1) continue; // no outputs
    const outputs = array(d[1], `${w}.outputs`);
    for (let k = 0; k < outputs.length; k++) if (!(outputs[k] instanceof Uint8Array)) bad(`${w}.outputs[${k}]`, `expected a byte string, got ${kind(outputs[k])}`);
    const producers = array(d[2], `${w}.producers`);
    if (producers.length !== outputs.length || !producers.every(isUint)) bad(`${w}.producers`, "expected one task index per output");
  }
  const fail = array(m.fail, "answers.fail");
  for (let i = 0; i < fail.length; i++) {
    const w = `answers.fail[${i}]`;
    const f = array(fail[i], w);
    if (!isUint(f[0])) bad(`${w}.delivery`, `expected a non-negative integer, got ${kind(f[0])}`);
    if (!isUint(f[1])) bad(`${w}.task`, `expected a task index, got ${kind(f[1])}`);
    if (typeof f[2] !== "string") bad(`${w}.error`, `expected a string, got ${kind(f[2])}`);
    if (typeof f[3] !== "string") bad(`${w}.where`, `expected a string, got ${kind(f[3])}`);
  }
  const calls = array(m.calls, "answers.calls");
  for (let i = 0; i < calls.length; i++) {
    const c = array(calls[i], `answers.calls[${i}]`);
    if (c.length < 5 || c.length % 2 === 0 || !c.every((x) => typeof x === "number" && Number.isFinite(x) && x >= 0)) {
      bad(`answers.calls[${i}]`, "expected [task, handled, errors, sum, max, bucket, count, …] of non-negative numbers");
    }
  }
  return m as unknown as Answers;
}

function parseDeliveries(m: Obj): Deliveries {
  const items = array(m.items, "deliveries.items");
  for (let i = 0; i < items.length; i++) {
    const w = `deliveries.items[${i}]`;
    const d = array(items[i], w);
    if (!isUint(d[0])) bad(`${w}.delivery`, `expected a non-negative integer, got ${kind(d[0])}`);
    if (typeof d[1] !== "string") bad(`${w}.msg_id`, `expected a string, got ${kind(d[1])}`);
    if (!(Number.isInteger(d[2]) && (d[2] as number) >= EDGE_JOIN) || !isUint(d[3])) bad(`${w}.edge`, "expected [from, to], two task indices");
    if (!isUint(d[4])) bad(`${w}.attempt`, `expected a non-negative integer, got ${kind(d[4])}`);
    if (!(d[5] instanceof Uint8Array)) bad(`${w}.msg`, `expected a byte string, got ${kind(d[5])}`);
  }
  return m as unknown as Deliveries;
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
  optStrings(m, "tasks");
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
    case "answers":
      return parseAnswers(m);
    case "ready":
      uint(m, "credits");
      return m as unknown as Ready;
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
    case "deliveries":
      return parseDeliveries(m);
    case "ping":
    case "pong":
      return ping(m);
    case "welcome":
      uint(m, "version");
      str(m, "session");
      uint(m, "heartbeat_ms");
      optStr(m, "nonce");
      optStr(m, "instance");
      optStrings(m, "tasks");
      if (m.lease_ms !== undefined) uint(m, "lease_ms");
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
