import { describe, expect, test } from "bun:test";
import { DOWNSTREAM_QUEUE_FACTOR, LAPSES_BEFORE_FAILING, _inspect, crashReason, capacity, createPipeline, inflightRoots, isIdle, stats, tasksWithoutSession } from "./pipeline.ts";
import { Harness, bytes, d, joinPayload, testConfig } from "./_testkit.ts";

const diamond = "A-->B, A-->C, B-->D, C-->D";

describe("rule 1: roots", () => {
  test("a source message makes one delivery per root task with the source payload", () => {
    const h = new Harness(testConfig("A-->C, B-->C"));
    expect(h.open("a1", "A", 5)).toEqual([]);
    expect(h.open("b1", "B", 5)).toEqual([]);
    expect(h.source("r1", "p")).toEqual([d("a1", 1, "r1", "$source>A", "p"), d("b1", 2, "r1", "$source>B", "p")]);
    expect(inflightRoots(h.state)).toBe(1);
  });

  test("the attempt given by the source is the root's attempt", () => {
    const h = new Harness(testConfig("A"));
    h.open("a1", "A", 5);
    expect(h.source("r1", "p", 3)).toEqual([d("a1", 1, "r1", "$source>A", "p", 3)]);
  });

  test("deliveries wait in the queue until a session has credits", () => {
    const h = new Harness(testConfig("A"));
    expect(h.source("r1", "p")).toEqual([]);
    expect(stats(h.state).tasks.A).toEqual({ queued: 1, inflight: 0, handled: 0, errors: 0 });
    expect(h.open("a1", "A")).toEqual([]);
    expect(h.credits("a1", 1)).toEqual([d("a1", 1, "r1", "$source>A", "p")]);
    expect(stats(h.state).tasks.A).toEqual({ queued: 0, inflight: 1, handled: 0, errors: 0 });
  });

  test("a second source message with an id already in flight is not started twice", () => {
    const h = new Harness(testConfig("A"));
    h.open("a1", "A", 5);
    h.source("r1", "p");
    expect(h.source("r1", "p")).toEqual([]);
    expect(inflightRoots(h.state)).toBe(1);
  });
});

describe("rule 2: dispatch by credits", () => {
  test("FIFO, one delivery per credit, the rest drained by later credits", () => {
    const h = new Harness(testConfig("A"));
    h.open("a1", "A", 1);
    expect(h.source("r1", "1")).toEqual([d("a1", 1, "r1", "$source>A", "1")]);
    expect(h.source("r2", "2")).toEqual([]);
    expect(h.source("r3", "3")).toEqual([]);
    expect(h.credits("a1", 5)).toEqual([d("a1", 2, "r2", "$source>A", "2"), d("a1", 3, "r3", "$source>A", "3")]);
    // 3 credits left: the next message goes straight out.
    expect(h.source("r4", "4")).toEqual([d("a1", 4, "r4", "$source>A", "4")]);
  });

  test("only sessions with credits get deliveries", () => {
    const h = new Harness(testConfig("A"));
    for (let i = 1; i <= 4; i++) h.source(`r${i}`, `${i}`);
    h.open("s1", "A");
    h.open("s2", "A");
    expect(h.credits("s1", 3)).toEqual([1, 2, 3].map((i) => d("s1", i, `r${i}`, "$source>A", `${i}`)));
    expect(h.credits("s2", 3)).toEqual([d("s2", 4, "r4", "$source>A", "4")]);
    expect(_inspect(h.state).sessions).toEqual({ s1: { task: "A", credits: 0, leases: 3 }, s2: { task: "A", credits: 2, leases: 1 } });
  });

  test("round-robin between sessions that both have credits", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 10);
    h.open("s2", "A", 10);
    h.open("s3", "A", 1);
    const out = [1, 2, 3, 4, 5, 6].flatMap((i) => h.source(`r${i}`, `${i}`));
    expect(out.map((e) => (e.type === "deliver" ? e.session : "?"))).toEqual(["s1", "s2", "s3", "s1", "s2", "s1"]);
  });

  test("a valid answer returns a credit, which takes the next queued delivery", () => {
    const h = new Harness(testConfig("A"));
    h.open("a1", "A", 1);
    h.source("r1", "1");
    h.source("r2", "2");
    expect(h.done("a1", 1)).toEqual([{ type: "ack", rootId: "r1" }, d("a1", 2, "r2", "$source>A", "2")]);
  });
});

describe("rule 3: fan-out", () => {
  test("each output goes to every child, with the root's attempt", () => {
    const h = new Harness(testConfig("A-->B, A-->C"));
    h.open("a", "A", 5);
    h.open("b", "B", 5);
    h.open("c", "C", 5);
    expect(h.source("r1", "p", 2)).toEqual([d("a", 1, "r1", "$source>A", "p", 2)]);
    expect(h.done("a", 1, "x", "y")).toEqual([
      d("b", 2, "r1", "A>B", "x", 2),
      d("b", 3, "r1", "A>B", "y", 2),
      d("c", 4, "r1", "A>C", "x", 2),
      d("c", 5, "r1", "A>C", "y", 2),
    ]);
    expect(stats(h.state).tasks.A!.handled).toBe(1);
  });
});

describe("rule 4: union fan-in", () => {
  test("a task with two parents handles each parent's output separately", () => {
    const h = new Harness(testConfig(diamond));
    for (const t of "ABCD") h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    expect(h.done("a", 1, "x")).toEqual([d("b", 2, "r1", "A>B", "x"), d("c", 3, "r1", "A>C", "x")]);
    expect(h.done("c", 3, "cx")).toEqual([d("d", 4, "r1", "C>D", "cx")]);
    expect(h.done("b", 2, "bx")).toEqual([d("d", 5, "r1", "B>D", "bx")]);
    expect(h.done("d", 4)).toEqual([]);
    expect(h.done("d", 5)).toEqual([{ type: "ack", rootId: "r1" }]);
  });
});

describe("rule 5: join all", () => {
  test("one delivery when every ancestor is finished, parts in TaskSpec.parents order", () => {
    const h = new Harness(testConfig(diamond, { joins: ["D"] }));
    for (const t of "ABCD") h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    expect(h.done("c", 3, "c1")).toEqual([]); // buffered: B still outstanding
    expect(stats(h.state).tasks.D!.queued).toBe(0);
    expect(h.done("b", 2, "b1", "b2")).toEqual([
      d("d", 4, "r1", "$join>D", joinPayload([["B", ["b1", "b2"]], ["C", ["c1"]]])),
    ]);
    expect(h.done("d", 4)).toEqual([{ type: "ack", rootId: "r1" }]);
  });

  test("a parent that produced nothing has []", () => {
    const h = new Harness(testConfig(diamond, { joins: ["D"] }));
    for (const t of "ABCD") h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    h.done("b", 2);
    expect(h.done("c", 3, "c1")).toEqual([d("d", 4, "r1", "$join>D", joinPayload([["B", []], ["C", ["c1"]]]))]);
  });

  test("no parent output: the join resolves without a delivery and the root completes", () => {
    const h = new Harness(testConfig(diamond, { joins: ["D"] }));
    for (const t of "ABCD") h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    expect(h.done("b", 2)).toEqual([]);
    expect(h.done("c", 3)).toEqual([{ type: "ack", rootId: "r1" }]);
    expect(stats(h.state).tasks.D).toEqual({ queued: 0, inflight: 0, handled: 0, errors: 0 });
  });

  test("the join waits for transitive ancestors, not only its parents", () => {
    // J's parents are A and C; C is downstream of B. A's output is buffered until C is done.
    const h = new Harness(testConfig("A-->B, B-->C, A-->J, C-->J", { joins: ["J"] }));
    for (const t of ["A", "B", "C", "J"]) h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    expect(h.done("a", 1, "a1")).toEqual([d("b", 2, "r1", "A>B", "a1")]);
    expect(h.done("b", 2, "b1")).toEqual([d("c", 3, "r1", "B>C", "b1")]);
    expect(h.done("c", 3, "c1", "c2")).toEqual([d("j", 4, "r1", "$join>J", joinPayload([["A", ["a1"]], ["C", ["c1", "c2"]]]))]);
  });

  test("outputs of several deliveries of one parent are collected in arrival order", () => {
    const h = new Harness(testConfig("A-->B, B-->J", { joins: ["J"] }));
    for (const t of ["A", "B", "J"]) h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    h.done("a", 1, "x", "y");
    expect(h.done("b", 3, "from-y")).toEqual([]);
    expect(h.done("b", 2, "from-x")).toEqual([d("j", 4, "r1", "$join>J", joinPayload([["B", ["from-y", "from-x"]]]))]);
  });

  test("nested joins: a join downstream of a join waits for it", () => {
    // J1 joins B and C; J2 joins J1 and A.
    const h = new Harness(testConfig("A-->B, A-->C, B-->J1, C-->J1, J1-->J2, A-->J2", { joins: ["J1", "J2"] }));
    for (const t of ["A", "B", "C", "J1", "J2"]) h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    expect(h.done("a", 1, "a1")).toEqual([d("b", 2, "r1", "A>B", "a1"), d("c", 3, "r1", "A>C", "a1")]);
    h.done("b", 2, "b1");
    expect(h.done("c", 3, "c1")).toEqual([d("j1", 4, "r1", "$join>J1", joinPayload([["B", ["b1"]], ["C", ["c1"]]]))]);
    expect(h.done("j1", 4, "j")).toEqual([d("j2", 5, "r1", "$join>J2", joinPayload([["J1", ["j"]], ["A", ["a1"]]]))]);
    expect(h.done("j2", 5)).toEqual([{ type: "ack", rootId: "r1" }]);
  });

  test("nested joins where the inner join gets nothing: the outer still joins what it has", () => {
    const h = new Harness(testConfig("A-->B, A-->C, B-->J1, C-->J1, J1-->J2, A-->J2", { joins: ["J1", "J2"] }));
    for (const t of ["A", "B", "C", "J1", "J2"]) h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    h.done("a", 1, "a1");
    h.done("b", 2);
    expect(h.done("c", 3)).toEqual([d("j2", 4, "r1", "$join>J2", joinPayload([["J1", []], ["A", ["a1"]]]))]);
  });

  test("a join after a join chain with no output at all completes the root", () => {
    const h = new Harness(testConfig("A-->J1, J1-->J2", { joins: ["J1", "J2"] }));
    h.open("a", "A", 5);
    h.source("r1", "p");
    expect(h.done("a", 1)).toEqual([{ type: "ack", rootId: "r1" }]);
  });
});

describe("rule 6: completion", () => {
  test("ack exactly once when nothing is outstanding; root state deleted", () => {
    const h = new Harness(testConfig("A-->B"));
    h.open("a", "A", 5);
    h.open("b", "B", 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    expect(isIdle(h.state)).toBe(false);
    expect(h.done("b", 2)).toEqual([{ type: "ack", rootId: "r1" }]);
    expect(isIdle(h.state)).toBe(true);
    expect(h.done("b", 2)).toEqual([]); // stale: no second ack
    expect(stats(h.state).roots).toEqual({ inflight: 0, completed: 1, retried: 0, deadLettered: 0, failed: 0 });
    expect(_inspect(h.state)).toMatchObject({ roots: 0, running: 0, backoff: 0, leases: 0, queueSlots: 0 });
  });

  test("a root task returning [] completes the root", () => {
    const h = new Harness(testConfig(diamond));
    h.open("a", "A", 5);
    h.source("r1", "p");
    expect(h.done("a", 1)).toEqual([{ type: "ack", rootId: "r1" }]);
  });

  test("with two root tasks, the root completes only when both are done", () => {
    const h = new Harness(testConfig("A-->C, B-->C"));
    h.open("a", "A", 5);
    h.open("b", "B", 5);
    h.source("r1", "p");
    expect(h.done("a", 1)).toEqual([]);
    expect(h.done("b", 2)).toEqual([{ type: "ack", rootId: "r1" }]);
  });
});

describe("rule 7: session loss", () => {
  test("what a closed session held comes back with new ids, before anything queued, each run alone", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 2);
    h.open("s2", "A");
    h.source("r1", "1");
    h.source("r2", "2");
    h.source("r3", "3"); // queued: s1 has no credit left
    expect(h.close("s1")).toEqual([]); // s2 has no credits yet
    expect(stats(h.state).tasks.A).toMatchObject({ queued: 3, inflight: 0 });
    // r1 and r2 are suspects (one of them may have closed s1): s2 holds one at a time, alone.
    expect(h.credits("s2", 3)).toEqual([d("s2", 4, "r1", "$source>A", "1")]);
    expect(h.done("s2", 4)).toEqual([{ type: "ack", rootId: "r1" }, d("s2", 5, "r2", "$source>A", "2")]);
    // The last suspect answered: s2 takes queued work again, with the credits it kept.
    expect(h.done("s2", 5)).toEqual([{ type: "ack", rootId: "r2" }, d("s2", 3, "r3", "$source>A", "3")]);
  });

  test("requeued deliveries go straight to another session with credits; the session is forgotten", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 1);
    h.source("r1", "1");
    h.open("s2", "A", 1);
    expect(h.close("s1")).toEqual([d("s2", 2, "r1", "$source>A", "1")]);
    expect(h.done("s1", 1)).toEqual([]); // unknown session now
    expect(h.credits("s1", 1)).toEqual([]);
    expect(h.done("s2", 2)).toEqual([{ type: "ack", rootId: "r1" }]);
  });
});

describe("rule 7b: a message that crashes its worker", () => {
  const crash = (n: number) => `A: ${crashReason(n)}`;

  test("a delivery that was all its session held, twice, with other work done between, dead-letters its root at once, without the retries", () => {
    const h = new Harness(testConfig("A", { retry: 3 }));
    h.open("s1", "A", 1);
    h.source("r1", "p");
    expect(h.close("s1")).toEqual([]); // r1 alone: one crash; it waits on probation
    h.open("s2", "A");
    h.source("r2", "q");
    expect(h.credits("s2", 1)).toEqual([d("s2", 3, "r2", "$source>A", "q")]); // other work first
    expect(h.done("s2", 3)).toEqual([{ type: "ack", rootId: "r2" }, d("s2", 2, "r1", "$source>A", "p")]); // then r1, alone
    expect(h.close("s2")).toEqual([{ type: "dead_letter", rootId: "r1", payload: "p", error: crash(2), attempts: [{ attempt: 1, error: crash(2), at: 0 }] }]);
    expect(stats(h.state).roots).toMatchObject({ inflight: 0, completed: 1, deadLettered: 1, retried: 0 });
    expect(_inspect(h.state)).toMatchObject({ roots: 0, leases: 0, queuedLive: 0, suspects: 0, suspectSlots: 0, probation: 0, probationSlots: 0, inflight: 0 });
  });

  test("while other messages wait and none completes, the worker may be what is broken: nobody is blamed", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 1);
    h.source("r1", "1");
    h.source("r2", "2"); // queued
    h.close("s1"); // r1 alone: on probation
    expect(h.open("s2", "A", 1)).toEqual([d("s2", 2, "r2", "$source>A", "2")]); // other work first
    h.close("s2"); // r2 alone: on probation too
    expect(h.open("s3", "A", 1)).toEqual([d("s3", 3, "r1", "$source>A", "1")]); // nothing else queued: both join the suspects
    expect(h.close("s3")).toEqual([]); // r1's second, but r2 waits and nothing completed
    expect(h.open("s4", "A", 1)).toEqual([d("s4", 4, "r2", "$source>A", "2")]);
    expect(h.close("s4")).toEqual([]); // r2's second, and r1 waits
    expect(stats(h.state).roots).toMatchObject({ inflight: 2, deadLettered: 0 });
  });

  test("the last message left, twice all its worker held when the worker died: dead-lettered (nothing else to tell it from)", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 1);
    h.source("r1", "p");
    h.close("s1");
    expect(h.open("s2", "A", 1)).toEqual([d("s2", 2, "r1", "$source>A", "p")]);
    expect(h.close("s2").map((e) => e.type === "dead_letter" && e.error)).toEqual([crash(2)]);
  });

  test("a crash with several held blames none of them: each runs alone, the guilty one is caught, the rest complete", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 3);
    for (const id of ["r1", "r2", "r3"]) h.source(id, id);
    h.source("r4", "r4"); // queued behind the three held
    expect(h.close("s1")).toEqual([]);
    h.open("s2", "A");
    expect(h.credits("s2", 5)).toEqual([d("s2", 5, "r1", "$source>A", "r1")]);
    expect(h.done("s2", 5)).toEqual([{ type: "ack", rootId: "r1" }, d("s2", 6, "r2", "$source>A", "r2")]);
    expect(h.close("s2")).toEqual([]); // r2 alone: one crash; on probation behind the rest
    h.open("s3", "A");
    expect(h.credits("s3", 5)).toEqual([d("s3", 7, "r3", "$source>A", "r3")]);
    expect(h.done("s3", 7)).toEqual([{ type: "ack", rootId: "r3" }, d("s3", 4, "r4", "$source>A", "r4")]);
    expect(h.done("s3", 4)).toEqual([{ type: "ack", rootId: "r4" }, d("s3", 8, "r2", "$source>A", "r2")]); // nothing else left: r2, alone
    expect(h.close("s3").map((e) => e.type)).toEqual(["dead_letter"]);
    expect(stats(h.state).roots).toMatchObject({ completed: 3, deadLettered: 1, retried: 0 });
  });

  test("probation lasts until the unit has nothing else queued, or suspectWaitMs", () => {
    const h = new Harness(testConfig("A", { suspectWaitMs: 100 }));
    h.open("s1", "A", 1);
    h.source("r1", "1");
    h.close("s1"); // r1 on probation
    h.open("s2", "A");
    h.source("r2", "2");
    h.source("r3", "3");
    expect(h.credits("s2", 1)).toEqual([d("s2", 3, "r2", "$source>A", "2")]);
    expect(h.tick(100)).toEqual([]);
    expect(h.tick(101)).toEqual([]); // r1 is a suspect now: r3 waits behind it; s2 still holds r2
    expect(h.done("s2", 3)).toEqual([{ type: "ack", rootId: "r2" }, d("s2", 2, "r1", "$source>A", "1")]);
    expect(h.done("s2", 2)).toEqual([{ type: "ack", rootId: "r1" }, d("s2", 4, "r3", "$source>A", "3")]);
  });

  test("with suspects waiting, sessions take nothing else; each that empties takes one", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 2);
    h.open("s2", "A", 1);
    h.source("r1", "1"); // s1
    h.source("r2", "2"); // s2
    h.source("r3", "3"); // s1
    expect(h.close("s1")).toEqual([]); // r1, r3 suspects; s2 still holds r2
    h.open("s3", "A");
    expect(h.credits("s3", 4)).toEqual([d("s3", 4, "r1", "$source>A", "1")]);
    h.source("r4", "4"); // queued: nothing but suspects goes out while they wait
    expect(h.credits("s2", 4)).toEqual([]); // s2 still holds r2
    expect(h.done("s2", 2)).toEqual([{ type: "ack", rootId: "r2" }, d("s2", 5, "r3", "$source>A", "3")]);
    expect(stats(h.state).tasks.A).toMatchObject({ queued: 1, inflight: 2 });
    // No suspect waits now, but s3 and s2 each hold theirs alone: r4 waits for one to answer.
    expect(h.credits("s3", 1)).toEqual([]);
    expect(h.done("s3", 4)).toEqual([{ type: "ack", rootId: "r1" }, d("s3", 6, "r4", "$source>A", "4")]);
  });

  test("a suspect running alone past suspectWaitMs frees its session, and suspects that cannot go out by then become ordinary work", () => {
    const h = new Harness(testConfig("A", { suspectWaitMs: 100 }));
    h.open("s1", "A", 2);
    h.source("r1", "1");
    h.source("r2", "2");
    h.close("s1"); // r1, r2 suspects
    h.open("s2", "A");
    expect(h.credits("s2", 3)).toEqual([d("s2", 3, "r1", "$source>A", "1")]); // r1 hangs there, alone
    h.source("r3", "3");
    expect(h.tick(100)).toEqual([]);
    expect(h.tick(101)).toEqual([d("s2", 4, "r2", "$source>A", "2"), d("s2", 5, "r3", "$source>A", "3")]);
    expect(_inspect(h.state)).toMatchObject({ suspects: 0, suspectSlots: 0, leases: 3 });
  });

  test("a suspect whose handler fails is an ordinary retry, and its session takes other work again", () => {
    const h = new Harness(testConfig("A --> B"));
    h.open("a1", "A", 1);
    h.source("r1", "p");
    h.close("a1");
    expect(h.open("a2", "A", 1)).toEqual([d("a2", 2, "r1", "$source>A", "p")]);
    expect(h.state.sessions.get("a2")!.isolating).not.toBeNull();
    expect(h.fail("a2", 2, "boom").map((e) => e.type)).toEqual(["retry"]);
    expect(h.state.sessions.get("a2")!.isolating).toBeNull();
    expect(_inspect(h.state)).toMatchObject({ suspects: 0, probation: 0, leases: 0 });
  });
});

describe("rule 8: lease timeout", () => {
  test("on tick, an expired lease is requeued with a new id; the old session's credit stays spent", () => {
    const h = new Harness(testConfig("A", { leaseMs: 100, timeoutMs: 10_000 }));
    h.open("s1", "A", 1);
    h.source("r1", "1");
    h.open("s2", "A");
    expect(h.tick(100)).toEqual([]); // not passed yet
    expect(h.tick(101)).toEqual([]); // requeued; nobody has credits (s1 is still busy)
    expect(stats(h.state).tasks.A).toMatchObject({ queued: 1, inflight: 0 });
    expect(h.credits("s2", 1)).toEqual([d("s2", 2, "r1", "$source>A", "1")]);
    // s1 answers late: stale, but its handler slot is free again.
    h.source("r2", "2");
    expect(h.done("s1", 1, "ignored")).toEqual([d("s1", 3, "r2", "$source>A", "2")]);
    expect(stats(h.state).tasks.A!.handled).toBe(0);
    expect(h.done("s2", 2)).toEqual([{ type: "ack", rootId: "r1" }]);
  });

  test("the requeued delivery is dispatched in the same tick when a session has credits", () => {
    const h = new Harness(testConfig("A", { leaseMs: 100, timeoutMs: 10_000 }));
    h.open("s1", "A", 1);
    h.source("r1", "1");
    h.open("s2", "A", 1);
    h.now = 150;
    h.heard("s2"); // a live session pings: only one silent past its lease gets nothing new
    expect(h.tick(150)).toEqual([d("s2", 2, "r1", "$source>A", "1")]);
    expect(h.done("s2", 2)).toEqual([{ type: "ack", rootId: "r1" }]);
  });
});

describe("rule 9: stale results", () => {
  test("an unknown delivery id is ignored but returns a credit", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 1);
    h.source("r1", "1");
    h.source("r2", "2");
    expect(h.done("s1", 99)).toEqual([d("s1", 2, "r2", "$source>A", "2")]);
    expect(stats(h.state).tasks.A!.handled).toBe(0);
  });

  test("an answer for a delivery leased to ANOTHER session is stale and does not affect that lease", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 1);
    h.open("s2", "A", 1);
    h.source("r1", "1");
    expect(h.done("s2", 1)).toEqual([]);
    expect(stats(h.state).tasks.A).toMatchObject({ inflight: 1, handled: 0 });
    expect(h.done("s1", 1)).toEqual([{ type: "ack", rootId: "r1" }]);
  });

  test("a fail for a delivery of a failed attempt is stale: no error counted, no second failure", () => {
    const h = new Harness(testConfig("A-->B, A-->C"));
    h.open("a", "A", 5);
    h.open("b", "B", 5);
    h.open("c", "C", 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    expect(h.fail("b", 2, "boom")).toEqual([{ type: "retry", rootId: "r1", attempt: 2, error: "B: boom", delayMs: 100 }]);
    expect(h.fail("c", 3, "late")).toEqual([]);
    expect(h.done("c", 3, "late")).toEqual([]);
    expect(stats(h.state).tasks.C).toEqual({ queued: 0, inflight: 0, handled: 0, errors: 0 });
    expect(stats(h.state).roots.failed).toBe(1);
  });

  test("answering the same delivery twice: the second is stale", () => {
    const h = new Harness(testConfig("A-->B"));
    h.open("a", "A", 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    expect(h.done("a", 1, "y")).toEqual([]);
    expect(stats(h.state).tasks.B!.queued).toBe(1);
  });
});

describe("rule 10: failure, retry, dead-letter", () => {
  test("a fail drops queued and leased deliveries, then the root restarts after the backoff", () => {
    const h = new Harness(testConfig("A-->B, A-->C", { leaseMs: 5000 }));
    h.open("a", "A", 5);
    h.open("b", "B", 5);
    h.source("r1", "p");
    h.done("a", 1, "x"); // B leased (2), C queued (3): no C session
    h.now = 10;
    expect(h.fail("b", 2, "boom")).toEqual([{ type: "retry", rootId: "r1", attempt: 2, error: "B: boom", delayMs: 100 }]);
    expect(stats(h.state).tasks).toMatchObject({ B: { queued: 0, inflight: 0, errors: 1 }, C: { queued: 0, inflight: 0 } });
    expect(_inspect(h.state).queueSlots).toBe(0);
    expect(inflightRoots(h.state)).toBe(1); // still in flight while waiting
    expect(h.tick(109)).toEqual([]);
    expect(h.tick(110)).toEqual([d("a", 4, "r1", "$source>A", "p", 2)]);
    // The new attempt has its own timeout window from the restart tick.
    expect(h.tick(1110)).toEqual([]);
    expect(h.tick(1111)).toEqual([{ type: "retry", rootId: "r1", attempt: 3, error: "timed out after 1000 ms", delayMs: 200 }]);
  });

  test("backoff grows by factor up to maxMs, then dead-letter with every attempt record", () => {
    const h = new Harness(testConfig("A", { retry: 3, backoff: { initialMs: 100, maxMs: 250, factor: 2 } }));
    h.open("a", "A", 10);
    h.source("r1", "p");
    expect(h.fail("a", 1, "e1")).toEqual([{ type: "retry", rootId: "r1", attempt: 2, error: "A: e1", delayMs: 100 }]);
    expect(h.tick(100)).toEqual([d("a", 2, "r1", "$source>A", "p", 2)]);
    expect(h.fail("a", 2, "e2")).toEqual([{ type: "retry", rootId: "r1", attempt: 3, error: "A: e2", delayMs: 200 }]);
    expect(h.tick(300)).toEqual([d("a", 3, "r1", "$source>A", "p", 3)]);
    expect(h.fail("a", 3, "e3")).toEqual([{ type: "retry", rootId: "r1", attempt: 4, error: "A: e3", delayMs: 250 }]);
    expect(h.tick(550)).toEqual([d("a", 4, "r1", "$source>A", "p", 4)]);
    expect(h.fail("a", 4, "e4")).toEqual([
      {
        type: "dead_letter",
        rootId: "r1",
        payload: "p",
        error: "A: e4",
        attempts: [
          { attempt: 1, error: "A: e1", at: 0 },
          { attempt: 2, error: "A: e2", at: 100 },
          { attempt: 3, error: "A: e3", at: 300 },
          { attempt: 4, error: "A: e4", at: 550 },
        ],
      },
    ]);
    expect(isIdle(h.state)).toBe(true);
    expect(stats(h.state).roots).toEqual({ inflight: 0, completed: 0, retried: 3, deadLettered: 1, failed: 4 });
  });

  test("retry = 0: the first failure dead-letters", () => {
    const h = new Harness(testConfig("A", { retry: 0 }));
    h.open("a", "A", 10);
    h.source("r1", "p");
    expect(h.fail("a", 1, "x")).toEqual([
      { type: "dead_letter", rootId: "r1", payload: "p", error: "A: x", attempts: [{ attempt: 1, error: "A: x", at: 0 }] },
    ]);
  });

  test("a root starting at attempt 3 with retry = 2 dead-letters on its first failure here", () => {
    const h = new Harness(testConfig("A", { retry: 2 }));
    h.open("a", "A", 10);
    h.source("r1", "p", 3);
    expect(h.fail("a", 1, "x")).toEqual([
      { type: "dead_letter", rootId: "r1", payload: "p", error: "A: x", attempts: [{ attempt: 3, error: "A: x", at: 0 }] },
    ]);
  });

  test("a root starting at attempt 2 with retry = 3: backoff counts retries made here (k = 1 first)", () => {
    const h = new Harness(testConfig("A", { retry: 3 }));
    h.open("a", "A", 10);
    h.source("r1", "p", 2);
    expect(h.fail("a", 1, "x")).toEqual([{ type: "retry", rootId: "r1", attempt: 3, error: "A: x", delayMs: 100 }]);
  });

  test("a late done for a delivery of the failed attempt does not complete the retried root", () => {
    const h = new Harness(testConfig("A-->B"));
    h.open("a", "A", 5);
    h.open("b", "B", 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    h.tick(1001); // timeout: B's lease (2) is forgotten
    h.now = 1101;
    h.heard("a");
    expect(h.tick(1101)).toEqual([d("a", 3, "r1", "$source>A", "p", 2)]);
    expect(h.done("b", 2)).toEqual([]);
    expect(inflightRoots(h.state)).toBe(1);
    expect(h.done("a", 3)).toEqual([{ type: "ack", rootId: "r1" }]);
  });
});

describe("rule 11: waiting is not failing; the timeout measures work from the lease", () => {
  test("a root with no session waits however long; once leased it has timeoutMs to be answered", () => {
    const h = new Harness(testConfig("A", { timeoutMs: 1000, leaseMs: 5000 }));
    h.source("r1", "p"); // no session at all: stays queued
    expect(h.tick(60_000)).toEqual([]);
    expect(stats(h.state).tasks.A!.queued).toBe(1);
    h.now = 60_000;
    expect(h.open("a", "A", 1)).toEqual([d("a", 1, "r1", "$source>A", "p")]);
    h.heard("a");
    expect(h.tick(61_000)).toEqual([]);
    expect(h.tick(61_001)).toEqual([{ type: "retry", rootId: "r1", attempt: 2, error: "timed out after 1000 ms", delayMs: 100 }]);
  });

  test("a root waiting in a downstream queue is not timed out either", () => {
    const h = new Harness(testConfig("A-->B", { timeoutMs: 1000, leaseMs: 5000 }));
    h.open("a", "A", 1);
    h.source("r1", "p");
    h.done("a", 1, "x"); // B has no session
    expect(h.tick(10_000)).toEqual([]);
    expect(stats(h.state).tasks.B!.queued).toBe(1);
  });
});

describe("rule 8b: leases lapse only when their session is silent", () => {
  test("any frame renews every lease of the session; silence lapses them all", () => {
    const h = new Harness(testConfig("A", { leaseMs: 100, timeoutMs: 10_000 }));
    h.open("s1", "A", 2);
    h.source("r1", "1");
    h.source("r2", "2");
    h.open("s2", "A", 2);
    h.now = 90;
    h.heard("s1");
    h.heard("s2");
    expect(h.tick(150)).toEqual([]); // heard at 90: renewed until 190
    h.now = 191;
    h.heard("s2");
    // Both lapse; they come back as suspects, each run alone.
    expect(h.tick(191)).toEqual([d("s2", 3, "r1", "$source>A", "1")]);
    expect(h.done("s2", 3)).toEqual([{ type: "ack", rootId: "r1" }, d("s2", 4, "r2", "$source>A", "2")]);
  });

  test(`a delivery whose lease lapsed ${LAPSES_BEFORE_FAILING} times fails its root`, () => {
    // Two held together, so the first lapse blames neither; after it each runs alone.
    const h = new Harness(testConfig("A", { leaseMs: 100, timeoutMs: 10_000 }));
    h.open("s1", "A", 2);
    h.source("r1", "1");
    h.source("r2", "2");
    h.now = 101;
    h.open("n1", "A", 1);
    h.open("n2", "A", 1);
    expect(h.tick(101)).toEqual([d("n1", 3, "r1", "$source>A", "1"), d("n2", 4, "r2", "$source>A", "2")]);
    h.now = 202;
    h.open("n3", "A", 1);
    h.open("n4", "A", 1);
    expect(h.tick(202)).toEqual([d("n3", 5, "r1", "$source>A", "1"), d("n4", 6, "r2", "$source>A", "2")]); // on probation, then suspects again
    // The third lapse of r1 fails it (nothing completed, and r2 still runs: no crash blamed);
    // then r2, alone and last, is blamed by the crash rule.
    expect(h.tick(303)).toEqual([
      { type: "retry", rootId: "r1", attempt: 2, error: `A: held by ${LAPSES_BEFORE_FAILING} sessions in turn that went silent (no frame for 100 ms)`, delayMs: 100 },
      { type: "dead_letter", rootId: "r2", payload: "2", error: `A: ${crashReason(2)}`, attempts: [{ attempt: 1, error: `A: ${crashReason(2)}`, at: 303 }] },
    ]);
  });
});

describe("leases: found by id, visited oldest first, and no slot kept for long after they end", () => {
  test("answers out of order: the oldest lease still lapses first, and the order does not grow with answered ones", () => {
    const h = new Harness(testConfig("A", { leaseMs: 100, timeoutMs: 100_000, maxPending: 100_000 }));
    h.open("s1", "A", 1000);
    for (let i = 1; i <= 1000; i++) h.source(`r${i}`, "p");
    // The oldest (delivery 1) stays held, while 20,000 more come and go behind it.
    let next = 1001;
    for (let i = 2; i <= 20_000; i++) {
      h.ev({ type: "done", session: "s1", delivery: i, outputs: [] });
      h.source(`r${next++}`, "p");
      h.credits("s1", 1);
    }
    const ins = _inspect(h.state);
    expect(ins.leases).toBe(1000);
    expect(ins.leaseSlots).toBeLessThan(4 * 1000);
    h.heard("s1");
    h.open("s2", "A", 1);
    h.now += 101;
    h.heard("s2");
    // Silent past the lease: every one lapses; the oldest is re-sent first, to s2.
    expect(h.tick(h.now)[0]).toEqual(d("s2", 21_000, "r1", "$source>A", "p"));
  });

  test("an answer from another session for a delivery leased here is stale", () => {
    const h = new Harness(testConfig("A"));
    h.open("s1", "A", 1);
    h.open("s2", "A", 1);
    h.source("r1", "p");
    expect(h.ev({ type: "done", session: "s2", delivery: 1, outputs: [] })).toEqual([]);
    expect(h.ev({ type: "done", session: "s1", delivery: 1, outputs: [] })).toEqual([{ type: "ack", rootId: "r1" }]);
  });
});

describe("rule 14: the source is read only as fast as the root tasks take work", () => {
  test(`a later task's queue longer than ${DOWNSTREAM_QUEUE_FACTOR} read-aheads stops the reading until it drains`, () => {
    const h = new Harness(testConfig("A-->B", { maxPending: 1000, readAhead: 2 }));
    h.open("a", "A", 100);
    h.open("b", "B", 1);
    const margin = DOWNSTREAM_QUEUE_FACTOR * 2;
    let toB = 0;
    for (let i = 1; i <= margin + 2; i++) {
      const [toA] = h.source(`r${i}`, "p") as Array<{ delivery: number }>;
      const out = h.done("a", toA!.delivery, "x") as Array<{ type: string; session?: string; delivery?: number }>; // A is fast; B takes one at a time
      toB ||= out.find((e) => e.type === "deliver" && e.session === "b")?.delivery ?? 0;
    }
    expect(stats(h.state).tasks.B!.queued).toBe(margin + 1);
    expect(capacity(h.state)).toBe(0);
    expect(_inspect(h.state).sessions.b!.leases).toBe(1);
    h.done("b", toB); // B answers its first and takes the next: its queue is at the margin again
    expect(stats(h.state).tasks.B!.queued).toBe(margin);
    expect(capacity(h.state)).toBeGreaterThan(0);
  });

  test("capacity: free credits of the root's sessions plus the read-ahead, none while any task has no session", () => {
    const h = new Harness(testConfig("A-->B", { maxPending: 1000, readAhead: 3 }));
    expect(capacity(h.state)).toBe(0);
    expect(tasksWithoutSession(h.state)).toEqual(["A", "B"]);
    h.open("a", "A", 5);
    expect(tasksWithoutSession(h.state)).toEqual(["B"]);
    expect(capacity(h.state)).toBe(0); // A's outputs would only wait for B: the source keeps them
    h.open("b", "B", 5);
    expect(tasksWithoutSession(h.state)).toEqual([]);
    expect(capacity(h.state)).toBe(5 + 3);
    for (let i = 0; i < 8; i++) h.source(`r${i}`, "p");
    expect(capacity(h.state)).toBe(0); // 5 leased, 3 queued
    h.done("a", 1);
    expect(capacity(h.state)).toBe(1); // its credit took a queued one: 2 left of the read-ahead of 3
    h.close("b"); // B's only worker went away: nothing more is read until one is back
    expect(capacity(h.state)).toBe(0);
    h.open("b2", "B", 5);
    expect(capacity(h.state)).toBe(1);
  });
});

describe("rule 15: fused workers", () => {
  test("a session of a unit takes deliveries of every task in it; outputs come back tagged by their task", () => {
    // A and B share a worker; B's outputs go to C, in its own.
    const h = new Harness(testConfig("A-->B, B-->C", { units: [["A", "B"]] }));
    h.open("ab", "A", 5);
    h.open("c", "C", 5);
    expect(h.source("r1", "p")).toEqual([d("ab", 1, "r1", "$source>A", "p")]);
    // A's output went to B inside the worker: only B's outputs leave it.
    expect(h.ev({ type: "done", session: "ab", delivery: 1, outputs: [bytes("y1"), bytes("y2")], producers: [1, 1] })).toEqual([d("c", 2, "r1", "B>C", "y1"), d("c", 3, "r1", "B>C", "y2")]);
    h.done("c", 2);
    expect(h.done("c", 3)).toEqual([{ type: "ack", rootId: "r1" }]);
  });

  test("a join whose ancestors all run in its worker is not the topology's: the root completes on one answer", () => {
    const h = new Harness(testConfig(diamond, { joins: ["D"], units: [["A", "B", "C", "D"]] }));
    h.open("w", "A", 5);
    h.source("r1", "p");
    expect(h.ev({ type: "done", session: "w", delivery: 1, outputs: [] })).toEqual([{ type: "ack", rootId: "r1" }]);
  });

  test("a join with an ancestor in another worker is resolved by the topology, then delivered into the join's worker", () => {
    const h = new Harness(testConfig(diamond, { joins: ["D"], units: [["B", "D"]] }));
    h.open("a", "A", 5);
    h.open("bd", "B", 5);
    h.open("c", "C", 5);
    h.source("r1", "p");
    expect(h.done("a", 1, "x")).toEqual([d("bd", 2, "r1", "A>B", "x"), d("c", 3, "r1", "A>C", "x")]);
    // B's output is a join contribution: it leaves the worker although D runs there.
    expect(h.ev({ type: "done", session: "bd", delivery: 2, outputs: [bytes("b1")], producers: [1] })).toEqual([]);
    expect(h.done("c", 3, "c1")).toEqual([d("bd", 4, "r1", "$join>D", joinPayload([["B", ["b1"]], ["C", ["c1"]]]))]);
  });

  test("a fail names the task inside the worker that threw", () => {
    const h = new Harness(testConfig("A-->B", { units: [["A", "B"]] }));
    h.open("ab", "A", 5);
    h.source("r1", "p");
    expect(h.ev({ type: "fail", session: "ab", delivery: 1, error: "boom", task: 1 })).toEqual([{ type: "retry", rootId: "r1", attempt: 2, error: "B: boom", delayMs: 100 }]);
    expect(stats(h.state).tasks.B!.errors).toBe(1);
  });
});

describe("rule 12: max_pending", () => {
  test("capacity counts roots in flight, including in backoff; never negative", () => {
    const h = new Harness(testConfig("A", { maxPending: 2 }));
    h.open("a", "A", 10);
    expect(capacity(h.state)).toBe(2);
    h.source("r1", "p");
    expect(capacity(h.state)).toBe(1);
    h.source("r2", "p");
    expect(capacity(h.state)).toBe(0);
    expect(h.source("r3", "p")).toEqual([d("a", 3, "r3", "$source>A", "p")]); // still accepted
    expect(capacity(h.state)).toBe(0);
    expect(inflightRoots(h.state)).toBe(3);
    h.fail("a", 1, "x"); // r1 waits in backoff
    h.done("a", 2);
    expect(inflightRoots(h.state)).toBe(2);
    expect(capacity(h.state)).toBe(0);
    h.done("a", 3);
    expect(capacity(h.state)).toBe(1);
  });
});

describe("rule 13: unknown tasks and sessions", () => {
  test("session_open for an unknown task, credits or answers from an unknown session are ignored", () => {
    const h = new Harness(testConfig("A"));
    h.source("r1", "p");
    expect(h.open("x", "Nope", 5)).toEqual([]);
    expect(h.credits("ghost", 5)).toEqual([]);
    expect(h.done("ghost", 1)).toEqual([]);
    expect(h.fail("ghost", 1, "e")).toEqual([]);
    expect(h.close("ghost")).toEqual([]);
    expect(stats(h.state).tasks.A).toEqual({ queued: 1, inflight: 0, handled: 0, errors: 0 });
    expect(Object.keys(_inspect(h.state).sessions)).toEqual([]);
  });

  test("a second session_open with the same session id is ignored", () => {
    const h = new Harness(testConfig("A-->B"));
    h.open("s", "A", 1);
    expect(h.open("s", "B", 1)).toEqual([]);
    expect(_inspect(h.state).sessions).toEqual({ s: { task: "A", credits: 2, leases: 0 } });
  });
});

describe("createPipeline", () => {
  test("rejects a cycle, an unknown parent and inconsistent parent/child lists", () => {
    const base = testConfig("A-->B");
    expect(() => createPipeline({ ...base, tasks: [{ name: "A", parents: ["B"], children: ["B"], join: "union" }, { name: "B", parents: ["A"], children: ["A"], join: "union" }] })).toThrow(
      'pipeline "t": the tasks A, B form a cycle',
    );
    expect(() => createPipeline({ ...base, tasks: [{ name: "A", parents: ["Z"], children: [], join: "union" }] })).toThrow('task "A" lists unknown parent "Z"');
    expect(() => createPipeline({ ...base, tasks: [{ name: "A", parents: [], children: ["B"], join: "union" }, { name: "B", parents: [], children: [], join: "union" }] })).toThrow(
      'task "A" lists child "B" but "B" does not list it as a parent',
    );
    expect(() => createPipeline({ ...base, maxPending: 0 })).toThrow("maxPending must be an integer >= 1");
  });
});

describe("stats", () => {
  test("plain data with per-task counters", () => {
    const h = new Harness(testConfig(diamond));
    for (const t of "ABC") h.open(t.toLowerCase(), t, 5);
    h.source("r1", "p");
    h.done("a", 1, "x");
    h.done("b", 2, "y");
    expect(stats(h.state)).toEqual({
      roots: { inflight: 1, completed: 0, retried: 0, deadLettered: 0, failed: 0 },
      tasks: {
        A: { queued: 0, inflight: 0, handled: 1, errors: 0 },
        B: { queued: 0, inflight: 0, handled: 1, errors: 0 },
        C: { queued: 0, inflight: 1, handled: 0, errors: 0 },
        D: { queued: 1, inflight: 0, handled: 0, errors: 0 },
      },
    });
  });
});
