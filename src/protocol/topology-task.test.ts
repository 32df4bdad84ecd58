import { describe, expect, test } from "bun:test";
import { encodeCbor } from "../codec/cbor.ts";
import { isCodecError } from "../codec/errors.ts";
import { encodeFrame, encodeFrames, FrameDecoder } from "../codec/frame.ts";
import {
  type ControlToTopology,
  dispatch,
  type HandlerTable,
  MsgType,
  parseControlToTopology,
  parseHello,
  parseTaskToTopology,
  parseTopologyToControl,
  parseTopologyToTask,
  PROTOCOL_VERSION,
  type TaskToTopology,
  type TopologyToControl,
  type TopologyToTask,
} from "./topology-task.ts";

const taskToTopology: TaskToTopology[] = [
  { type: "hello", version: PROTOCOL_VERSION, role: "task", topology: "wordcount", task: "split", instance: "split-1", pid: 4242 },
  { type: "hello", version: 1, role: "task", topology: "t", task: "x", instance: "i", pid: 1, proof: "ab12" },
  { type: "ready", credits: 64 },
  { type: "done", delivery: 7, outputs: [encodeCbor({ word: "a" }), encodeCbor("b")], ms: 0.42 },
  { type: "done", delivery: 8, outputs: [], ms: 0 },
  { type: "fail", delivery: 9, error: "TypeError: x is undefined", ms: 12.5 },
  { type: "fail", delivery: 10, error: "boom", ms: 1, where: "src/tasks/a.ts:3:11; src/tasks/a.ts:9:2" },
  { type: "hello", version: 1, role: "task", topology: "t", task: "x", instance: "i", pid: 1, topology_instance: "5e1f00aa" },
  { type: "ping", t: 1764350000000 },
  { type: "pong", t: 1764350000001 },
  { type: "bye" },
];

const topologyToTask: TopologyToTask[] = [
  { type: "welcome", version: 1, session: "s-1", heartbeat_ms: 5000 },
  { type: "welcome", version: 1, session: "s-2", heartbeat_ms: 5000, nonce: "n0nce" },
  { type: "reject", reason: "unknown task \"splt\" in topology wordcount" },
  {
    type: "deliver",
    delivery: 1,
    topology_id: "wordcount@3",
    msg_id: "1764350000000-0",
    edge: ["source", "split"],
    attempt: 0,
    msg: encodeCbor({ id: 123, text: "hello world" }),
  },
  { type: "ping", t: 1 },
  { type: "pong", t: 2 },
  { type: "shutdown" },
  { type: "challenge", nonce: "0123abcd" },
  { type: "welcome", version: 1, session: "s-3", heartbeat_ms: 5000, instance: "5e1f00aa" },
  { type: "reject", reason: "this is instance a of topology `t`, not b", code: "instance" },
];

const controlToTopology: ControlToTopology[] = [
  { type: "hello", version: 1, role: "control" },
  { type: "hello", version: 1, role: "control", proof: "p" },
  { type: "stats_request" },
  { type: "shutdown_request" },
];

function roundTrip(values: unknown[]): unknown[] {
  return new FrameDecoder().push(encodeFrames(values));
}

function rejection(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isCodecError(e)) throw e;
    expect(e.code).toBe("E_FRAME_MALFORMED");
    return e.message;
  }
  throw new Error("expected a CodecError, nothing was thrown");
}

describe("round trip through encodeFrame → FrameDecoder → parse", () => {
  test("task → topology", () => {
    const out = roundTrip(taskToTopology).map(parseTaskToTopology);
    expect(out).toEqual(taskToTopology);
    const done = out[3] as Extract<TaskToTopology, { type: "done" }>;
    expect(done.outputs[0]).toBeInstanceOf(Uint8Array);
  });

  test("topology → task", () => {
    const out = roundTrip(topologyToTask).map(parseTopologyToTask);
    expect(out).toEqual(topologyToTask);
    const deliver = out[3] as Extract<TopologyToTask, { type: "deliver" }>;
    expect([...deliver.msg]).toEqual([...encodeCbor({ id: 123, text: "hello world" })]);
  });

  test("control → topology and back", () => {
    expect(roundTrip(controlToTopology).map(parseControlToTopology)).toEqual(controlToTopology);
    const back: TopologyToControl[] = [
      { type: "welcome", version: 1, session: "c-1", heartbeat_ms: 5000 },
      { type: "stats", stats: { handled: 10, inflight: { split: 2 } } },
      { type: "reject", reason: "bad proof" },
    ];
    expect(roundTrip(back).map(parseTopologyToControl)).toEqual(back);
  });

  test("one frame at a time decodes too", () => {
    for (const m of topologyToTask) {
      expect(parseTopologyToTask(new FrameDecoder().push(encodeFrame(m))[0])).toEqual(m);
    }
  });

  test("every MsgType constant is accepted by the parser of its channel, after a trip through the codec", () => {
    // What the parsers accept, not what this file lists: a type no parser knows fails here.
    const accepted = new Set<string>();
    const parsers = [parseTaskToTopology, parseTopologyToTask, parseControlToTopology, parseTopologyToControl];
    const fixtures = [...taskToTopology, ...topologyToTask, ...controlToTopology, { type: "stats", stats: { read: 1 } }];
    for (const decoded of roundTrip(fixtures)) {
      for (const parse of parsers) {
        try {
          accepted.add((parse as (v: unknown) => { type: string })(decoded).type);
        } catch (e) {
          if (!isCodecError(e)) throw e;
        }
      }
    }
    expect([...accepted].sort()).toEqual(Object.values(MsgType).sort());
  });

  test("a reject code outside RejectCode is still a reject (forward compatible), its reason intact", () => {
    expect(parseTopologyToTask({ type: "reject", reason: "r", code: "future" })).toEqual({ type: "reject", reason: "r", code: "future" } as never);
  });
});

describe("parseHello", () => {
  test("tells a task from a control client by role", () => {
    const task: unknown = taskToTopology[0];
    const control: unknown = controlToTopology[0];
    expect(parseHello(task) as unknown).toEqual(task);
    expect(parseHello(control) as unknown).toEqual(control);
    expect(parseHello(task).role).toBe("task");
    expect(parseHello(control).role).toBe("control");
  });

  test("the first frame must be a hello", () => {
    expect(rejection(() => parseHello({ type: "ready", credits: 1 }))).toBe('hello: expected the "hello" handshake first, got "ready"');
  });

  test("an unknown role is refused", () => {
    expect(rejection(() => parseHello({ ...taskToTopology[0], role: "agent" }))).toBe('hello.role: expected "task", got "agent"');
  });
});

describe("validators", () => {
  test("ignore unknown fields", () => {
    const m = parseTopologyToTask({ ...topologyToTask[3], trace: "abc", future: [1, 2] });
    expect(m.type).toBe("deliver");
    const t = parseTaskToTopology({ type: "ready", credits: 3, priority: "high" });
    expect(t).toMatchObject({ type: "ready", credits: 3 });
    expect(parseControlToTopology({ type: "stats_request", verbose: true }).type).toBe("stats_request");
  });

  test.each([
    ["not an object", () => parseTaskToTopology("hello"), "task→topology: expected a message object, got string"],
    ["null", () => parseTopologyToTask(null), "topology→task: expected a message object, got null"],
    ["an array", () => parseTopologyToTask([1]), "topology→task: expected a message object, got array"],
    ["bytes", () => parseTopologyToTask(new Uint8Array(1)), "topology→task: expected a message object, got bytes"],
    ["no type", () => parseTaskToTopology({ credits: 1 }), 'task→topology: message has no string "type" (got undefined)'],
    ["a numeric type", () => parseTaskToTopology({ type: 1 }), 'task→topology: message has no string "type" (got number)'],
    ["an unknown type", () => parseTaskToTopology({ type: "deliver" }), 'task→topology: unknown message type "deliver"'],
    ["a control type from a task", () => parseTaskToTopology({ type: "stats_request" }), 'task→topology: unknown message type "stats_request"'],
    ["a string credit", () => parseTaskToTopology({ type: "ready", credits: "5" }), "ready.credits: expected a non-negative integer, got string"],
    ["negative credits", () => parseTaskToTopology({ type: "ready", credits: -1 }), "ready.credits: expected a non-negative integer, got -1"],
    ["fractional delivery", () => parseTaskToTopology({ type: "fail", delivery: 1.5, error: "e", ms: 1 }), "fail.delivery: expected a non-negative integer, got 1.5"],
    ["a missing error", () => parseTaskToTopology({ type: "fail", delivery: 1, ms: 1 }), "fail.error: expected a string, got undefined"],
    ["NaN ms", () => parseTaskToTopology({ type: "done", delivery: 1, outputs: [], ms: NaN }), "done.ms: expected a finite number, got NaN"],
    ["outputs not an array", () => parseTaskToTopology({ type: "done", delivery: 1, outputs: "x", ms: 1 }), "done.outputs: expected an array, got string"],
    ["a decoded output", () => parseTaskToTopology({ type: "done", delivery: 1, outputs: [new Uint8Array(1), { a: 1 }], ms: 1 }), "done.outputs[1]: expected a byte string, got object"],
    ["a ping without t", () => parseTaskToTopology({ type: "ping" }), "ping.t: expected a finite number, got undefined"],
    ["a hello without pid", () => parseTaskToTopology({ type: "hello", version: 1, role: "task", topology: "t", task: "x", instance: "i" }), "hello.pid: expected a non-negative integer, got undefined"],
    ["a numeric proof", () => parseTaskToTopology({ ...taskToTopology[0], proof: 7 }), "hello.proof: expected a string, got number"],
    ["a control hello on the task channel", () => parseTaskToTopology({ type: "hello", version: 1, role: "control" }), 'hello.role: expected "task", got "control"'],
    ["msg as a string", () => parseTopologyToTask({ ...topologyToTask[3], msg: "aGVsbG8=" }), "deliver.msg: expected a byte string, got string"],
    ["msg already decoded", () => parseTopologyToTask({ ...topologyToTask[3], msg: { id: 1 } }), "deliver.msg: expected a byte string, got object"],
    ["a one-ended edge", () => parseTopologyToTask({ ...topologyToTask[3], edge: ["a"] }), "deliver.edge: expected [from, to], two strings"],
    ["a numeric edge", () => parseTopologyToTask({ ...topologyToTask[3], edge: ["a", 2] }), "deliver.edge: expected [from, to], two strings"],
    ["a numeric msg_id", () => parseTopologyToTask({ ...topologyToTask[3], msg_id: 5 }), "deliver.msg_id: expected a string, got number"],
    ["a string attempt", () => parseTopologyToTask({ ...topologyToTask[3], attempt: "0" }), "deliver.attempt: expected a non-negative integer, got string"],
    ["a null session", () => parseTopologyToTask({ type: "welcome", version: 1, session: null, heartbeat_ms: 1 }), "welcome.session: expected a string, got null"],
    ["a numeric nonce", () => parseTopologyToTask({ ...topologyToTask[1], nonce: 1 }), "welcome.nonce: expected a string, got number"],
    ["a reject without reason", () => parseTopologyToTask({ type: "reject" }), "reject.reason: expected a string, got undefined"],
    ["a numeric reject code", () => parseTopologyToTask({ type: "reject", reason: "r", code: 3 }), "reject.code: expected a string, got number"],
    ["a numeric where", () => parseTaskToTopology({ type: "fail", delivery: 1, error: "e", ms: 1, where: 3 }), "fail.where: expected a string, got number"],
    ["a numeric topology_instance", () => parseTaskToTopology({ ...taskToTopology[0], topology_instance: 1 }), "hello.topology_instance: expected a string, got number"],
    ["a task type on the control channel", () => parseControlToTopology({ type: "ready", credits: 1 }), 'control→topology: unknown message type "ready"'],
    ["a task hello on the control channel", () => parseControlToTopology(taskToTopology[0]), 'hello.role: expected "control", got "task"'],
    ["stats without stats", () => parseTopologyToControl({ type: "stats" }), "stats.stats: missing"],
    ["a deliver to a control client", () => parseTopologyToControl(topologyToTask[3]), 'topology→control: unknown message type "deliver"'],
  ])("reject %s", (_name, fn, message) => {
    expect(rejection(fn)).toBe(message);
  });
});

describe("HandlerTable", () => {
  test("dispatch calls the handler for the message's type", () => {
    const seen: string[] = [];
    const table: HandlerTable<TopologyToTask, number> = {
      welcome: (m) => (seen.push(`welcome ${m.session}`), 1),
      reject: (m) => (seen.push(`reject ${m.reason}`), 2),
      deliver: (m) => (seen.push(`deliver ${m.delivery} ${m.edge.join("->")}`), 3),
      ping: (m) => (seen.push(`ping ${m.t}`), 4),
      pong: (m) => (seen.push(`pong ${m.t}`), 5),
      shutdown: () => (seen.push("shutdown"), 6),
      challenge: (m) => (seen.push(`challenge ${m.nonce}`), 7),
    };
    expect(topologyToTask.map((m) => dispatch(table, m))).toEqual([1, 1, 2, 3, 4, 5, 6, 7, 1, 2]);
    expect(seen).toEqual(["welcome s-1", "welcome s-2", "reject unknown task \"splt\" in topology wordcount", "deliver 1 source->split", "ping 1", "pong 2", "shutdown", "challenge 0123abcd", "welcome s-3", "reject this is instance a of topology `t`, not b"]);
  });

  test("a table missing a kind does not compile", () => {
    // @ts-expect-error -- "bye" is not handled
    const partial: HandlerTable<TaskToTopology> = { hello() {}, ready() {}, done() {}, fail() {}, ping() {}, pong() {} };
    expect(Object.keys(partial).length).toBe(6);
  });
});
