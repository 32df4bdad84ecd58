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
  {
    type: "answers",
    credits: 2,
    done: [[7, [encodeCbor({ word: "a" }), encodeCbor("b")], [1, 1]], [8, [], []], [11]],
    fail: [[9, 0, "TypeError: x is undefined", ""], [10, 2, "boom", "src/tasks/a.ts:3:11; src/tasks/a.ts:9:2"]],
    calls: [[0, 3, 1, 12.92, 12.5, 40, 2, 190, 1], [2, 0, 1, 1, 1, 140, 1]],
  },
  { type: "answers", credits: 0, done: [], fail: [], calls: [] },
  { type: "hello", version: 2, role: "task", topology: "t", task: "A", instance: "0", pid: 1, tasks: ["A", "B"] },
  { type: "hello", version: 1, role: "task", topology: "t", task: "x", instance: "i", pid: 1, topology_instance: "5e1f00aa" },
  { type: "ping", t: 1764350000000 },
  { type: "pong", t: 1764350000001 },
  { type: "bye" },
];

const topologyToTask: TopologyToTask[] = [
  { type: "welcome", version: 1, session: "s-1", heartbeat_ms: 5000 },
  { type: "welcome", version: 1, session: "s-2", heartbeat_ms: 5000, nonce: "n0nce" },
  { type: "reject", reason: "unknown task \"splt\" in topology wordcount" },
  { type: "deliveries", items: [[1, "1764350000000-0", -1, 0, 0, encodeCbor({ id: 123, text: "hello world" })], [2, "r2", -2, 3, 3, encodeCbor({ B: [1], C: [] })]] },
  { type: "ping", t: 1 },
  { type: "pong", t: 2 },
  { type: "shutdown" },
  { type: "challenge", nonce: "0123abcd" },
  { type: "welcome", version: 1, session: "s-3", heartbeat_ms: 5000, instance: "5e1f00aa", tasks: ["split", "count"], lease_ms: 2500 },
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
    const answers = out[3] as Extract<TaskToTopology, { type: "answers" }>;
    expect(answers.done[0]![1]![0]).toBeInstanceOf(Uint8Array);
  });

  test("topology → task", () => {
    const out = roundTrip(topologyToTask).map(parseTopologyToTask);
    expect(out).toEqual(topologyToTask);
    const deliveries = out[3] as Extract<TopologyToTask, { type: "deliveries" }>;
    expect([...deliveries.items[0]![5]]).toEqual([...encodeCbor({ id: 123, text: "hello world" })]);
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
    expect(m.type).toBe("deliveries");
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
    ["fractional delivery", () => parseTaskToTopology({ type: "answers", credits: 0, done: [], fail: [[1.5, 0, "e", ""]], calls: [] }), "answers.fail[0].delivery: expected a non-negative integer, got number"],
    ["outputs without producers", () => parseTaskToTopology({ type: "answers", credits: 0, done: [[1, [new Uint8Array(1)]]], fail: [], calls: [] }), "answers.done[0].producers: expected an array, got undefined"],
    ["a missing error", () => parseTaskToTopology({ type: "answers", credits: 0, done: [], fail: [[1, 0]], calls: [] }), "answers.fail[0].error: expected a string, got undefined"],
    ["NaN ms", () => parseTaskToTopology({ type: "answers", credits: 0, done: [], fail: [], calls: [[0, 1, 0, NaN, 1]] }), "answers.calls[0]: expected [task, handled, errors, sum, max, bucket, count, …] of non-negative numbers"],
    ["a bucket without its count", () => parseTaskToTopology({ type: "answers", credits: 0, done: [], fail: [], calls: [[0, 1, 0, 1, 1, 40]] }), "answers.calls[0]: expected [task, handled, errors, sum, max, bucket, count, …] of non-negative numbers"],
    ["outputs not an array", () => parseTaskToTopology({ type: "answers", credits: 0, done: [[1, "x", []]], fail: [], calls: [] }), "answers.done[0].outputs: expected an array, got string"],
    ["a decoded output", () => parseTaskToTopology({ type: "answers", credits: 0, done: [[1, [new Uint8Array(1), { a: 1 }], [0, 0]]], fail: [], calls: [] }), "answers.done[0].outputs[1]: expected a byte string, got object"],
    ["a producer missing", () => parseTaskToTopology({ type: "answers", credits: 0, done: [[1, [new Uint8Array(1)], []]], fail: [], calls: [] }), "answers.done[0].producers: expected one task index per output"],
    ["answers without credits", () => parseTaskToTopology({ type: "answers", done: [], fail: [], calls: [] }), "answers.credits: expected a non-negative integer, got undefined"],
    ["answers without calls", () => parseTaskToTopology({ type: "answers", credits: 1, done: [], fail: [] }), "answers.calls: expected an array, got undefined"],
    ["a ping without t", () => parseTaskToTopology({ type: "ping" }), "ping.t: expected a finite number, got undefined"],
    ["a hello without pid", () => parseTaskToTopology({ type: "hello", version: 1, role: "task", topology: "t", task: "x", instance: "i" }), "hello.pid: expected a non-negative integer, got undefined"],
    ["a numeric proof", () => parseTaskToTopology({ ...taskToTopology[0], proof: 7 }), "hello.proof: expected a string, got number"],
    ["a control hello on the task channel", () => parseTaskToTopology({ type: "hello", version: 1, role: "control" }), 'hello.role: expected "task", got "control"'],
    ["msg as a string", () => parseTopologyToTask({ type: "deliveries", items: [[1, "m", -1, 0, 1, "aGVsbG8="]] }), "deliveries.items[0].msg: expected a byte string, got string"],
    ["msg already decoded", () => parseTopologyToTask({ type: "deliveries", items: [[1, "m", -1, 0, 1, { id: 1 }]] }), "deliveries.items[0].msg: expected a byte string, got object"],
    ["a one-ended edge", () => parseTopologyToTask({ type: "deliveries", items: [[1, "m", 0]] }), "deliveries.items[0].edge: expected [from, to], two task indices"],
    ["a named edge", () => parseTopologyToTask({ type: "deliveries", items: [[1, "m", "a", 2, 1, new Uint8Array(1)]] }), "deliveries.items[0].edge: expected [from, to], two task indices"],
    ["a numeric msg_id", () => parseTopologyToTask({ type: "deliveries", items: [[1, 5, -1, 0, 1, new Uint8Array(1)]] }), "deliveries.items[0].msg_id: expected a string, got number"],
    ["a string attempt", () => parseTopologyToTask({ type: "deliveries", items: [[1, "m", -1, 0, "0", new Uint8Array(1)]] }), "deliveries.items[0].attempt: expected a non-negative integer, got string"],
    ["items not an array", () => parseTopologyToTask({ type: "deliveries", items: {} }), "deliveries.items: expected an array, got object"],
    ["a null session", () => parseTopologyToTask({ type: "welcome", version: 1, session: null, heartbeat_ms: 1 }), "welcome.session: expected a string, got null"],
    ["a numeric nonce", () => parseTopologyToTask({ ...topologyToTask[1], nonce: 1 }), "welcome.nonce: expected a string, got number"],
    ["a reject without reason", () => parseTopologyToTask({ type: "reject" }), "reject.reason: expected a string, got undefined"],
    ["a numeric reject code", () => parseTopologyToTask({ type: "reject", reason: "r", code: 3 }), "reject.code: expected a string, got number"],
    ["a numeric where", () => parseTaskToTopology({ type: "answers", credits: 0, done: [], fail: [[1, 0, "e", 3]], calls: [] }), "answers.fail[0].where: expected a string, got number"],
    ["hosted tasks not strings", () => parseTaskToTopology({ ...taskToTopology[0], tasks: ["A", 1] }), "hello.tasks: expected an array of strings, got array"],
    ["a numeric topology_instance", () => parseTaskToTopology({ ...taskToTopology[0], topology_instance: 1 }), "hello.topology_instance: expected a string, got number"],
    ["a task type on the control channel", () => parseControlToTopology({ type: "ready", credits: 1 }), 'control→topology: unknown message type "ready"'],
    ["a task hello on the control channel", () => parseControlToTopology(taskToTopology[0]), 'hello.role: expected "control", got "task"'],
    ["stats without stats", () => parseTopologyToControl({ type: "stats" }), "stats.stats: missing"],
    ["deliveries to a control client", () => parseTopologyToControl(topologyToTask[3]), 'topology→control: unknown message type "deliveries"'],
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
      deliveries: (m) => (seen.push(`deliveries ${m.items.map((d) => `${d[0]} ${d[2]}->${d[3]}`).join(", ")}`), 3),
      ping: (m) => (seen.push(`ping ${m.t}`), 4),
      pong: (m) => (seen.push(`pong ${m.t}`), 5),
      shutdown: () => (seen.push("shutdown"), 6),
      challenge: (m) => (seen.push(`challenge ${m.nonce}`), 7),
    };
    expect(topologyToTask.map((m) => dispatch(table, m))).toEqual([1, 1, 2, 3, 4, 5, 6, 7, 1, 2]);
    expect(seen).toEqual(["welcome s-1", "welcome s-2", "reject unknown task \"splt\" in topology wordcount", "deliveries 1 -1->0, 2 -2->3", "ping 1", "pong 2", "shutdown", "challenge 0123abcd", "welcome s-3", "reject this is instance a of topology `t`, not b"]);
  });

  test("a table missing a kind does not compile", () => {
    // @ts-expect-error -- "bye" is not handled
    const partial: HandlerTable<TaskToTopology> = { hello() {}, ready() {}, answers() {}, ping() {}, pong() {} };
    expect(Object.keys(partial).length).toBe(5);
  });
});
