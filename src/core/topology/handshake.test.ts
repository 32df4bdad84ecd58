import { expect, test } from "bun:test";
import { proofFor } from "../auth.ts";
import type { Topology } from "../project/model.ts";
import { acceptTask, refusePeer, type HandshakeContext } from "./handshake.ts";

const diamond = (task: Topology["runtime"]["task"] = {}): Topology => ({
  name: "diamond", member: "app", file: "/p/diamond.ts", kind: "module", graph: "",
  runtime: { host: "127.0.0.1", port: 0, message: { timeout: 1000, retry: 0, max_pending: 10, lease: 500 }, task, dead_letter: { path: "x" }, stats: { prefix: "tempest" } },
  dag: { tasks: ["A", "B", "C", "D"], edges: [["A", "B"], ["A", "C"], ["B", "D"], ["C", "D"]], roots: ["A"] },
  tasks: ["A", "B", "C", "D"].map((t) => ({ name: t, join: "union", module: "/p/diamond.ts", select: ["default", "tasks", t] })),
});
const ctx = (over: Partial<HandshakeContext> = {}): HandshakeContext => ({ topology: diamond(), version: 2, instance: "i1", nonce: "n1", stopping: false, ...over });
const hello = { topology: "diamond", task: "A", tasks: ["A", "B", "C", "D"] };

test("any peer: the protocol version must match", () => {
  expect(refusePeer({ version: 1 }, ctx())).toMatchObject({ code: "version", reason: expect.stringContaining("protocol version 1 is not supported") });
  expect(refusePeer({ version: 2 }, ctx())).toBeNull();
});

test("any peer: with a token, the hello must prove it for this connection's nonce", () => {
  const c = ctx({ token: "s3cret" });
  expect(refusePeer({ version: 2 }, c)?.code).toBe("auth");
  expect(refusePeer({ version: 2, proof: proofFor("other", "n1") }, c)?.code).toBe("auth");
  expect(refusePeer({ version: 2, proof: proofFor("s3cret", "n2") }, c)?.code).toBe("auth");
  expect(refusePeer({ version: 2, proof: proofFor("s3cret", "n1") }, c)).toBeNull();
});

test("a worker hosting the planned tasks is accepted with its unit", () => {
  const v = acceptTask(hello, ctx());
  expect(v).toMatchObject({ ok: true, unit: { leader: "A", tasks: ["A", "B", "C", "D"] } });
});

test("another topology, an unknown task: refused naming them", () => {
  expect(acceptTask({ ...hello, topology: "words" }, ctx())).toMatchObject({ ok: false, code: "topology", reason: "this is topology `diamond`, not `words`" });
  expect(acceptTask({ topology: "diamond", task: "X" }, ctx())).toMatchObject({ ok: false, code: "task", reason: "topology `diamond` has no task `X`" });
});

test("a worker that groups the tasks differently (another Runtime.toml) is refused", () => {
  expect(acceptTask({ topology: "diamond", task: "A" }, ctx())).toMatchObject({ ok: false, code: "task", reason: expect.stringContaining("runs A, B, C, D in one worker") });
  const isolated = ctx({ topology: diamond({ B: { workers: 1, isolate: true } }) });
  expect(acceptTask(hello, isolated)).toMatchObject({ ok: false, code: "task" });
  expect(acceptTask({ topology: "diamond", task: "B", tasks: ["B"] }, isolated)).toMatchObject({ ok: true, unit: { tasks: ["B"] } });
});

test("a worker of another start of the topology is refused; one that names none is not", () => {
  expect(acceptTask({ ...hello, topology_instance: "i0" }, ctx())).toMatchObject({ ok: false, code: "instance" });
  expect(acceptTask({ ...hello, topology_instance: "i1" }, ctx()).ok).toBe(true);
});

test("a stopping topology takes no new worker", () => {
  expect(acceptTask(hello, ctx({ stopping: true }))).toMatchObject({ ok: false, code: "stopping" });
});
