import { describe, expect, test } from "bun:test";
import type { Deployment, PlannedProcess } from "./model.ts";
import { processPlan, workerOf } from "./plan.ts";
import { schedule } from "./schedule.ts";

function deployment(topology: string, workers: Record<string, number>, version = "1.0.0"): Deployment {
  const exe = (name: string) => ({ executable: `p-${name}-${version}`, sha256: `sha-${version}`, size: 1 });
  return {
    topology, version, project: "p", deployed_at: 0, graph: "", edges: [], timeout_ms: 5000,
    topology_executable: exe(topology),
    tasks: Object.entries(workers).map(([name, n]) => ({ name, workers: n, join: "union" as const, executable: exe(name) })),
  };
}

const diamond = (version?: string) => ({ name: "diamond", processes: processPlan(deployment("diamond", { A: 1, B: 2, C: 1, D: 1 }, version)) });
const where = (r: ReturnType<typeof schedule>) => Object.fromEntries(Object.entries(r.assignments).flatMap(([a, ps]) => ps.map((p) => [p.id, a])));
const count = (r: ReturnType<typeof schedule>) => Object.fromEntries(Object.entries(r.assignments).map(([a, ps]) => [a, ps.length]));

describe("processPlan", () => {
  test("one topology process and `workers` instances of every task, with stable ids", () => {
    const ids = processPlan(deployment("diamond", { A: 1, B: 2 })).map((p) => p.id);
    expect(ids).toEqual(["diamond@1.0.0", "diamond@1.0.0.A.0", "diamond@1.0.0.B.0", "diamond@1.0.0.B.1"]);
  });
  test("tasks joined by an edge with the same workers share one process per instance; isolate and other counts get their own", () => {
    const d = deployment("diamond", { A: 1, B: 2, C: 1, D: 1 });
    d.edges = [["A", "B"], ["A", "C"], ["B", "D"], ["C", "D"]];
    expect(processPlan(d).map((p) => p.id)).toEqual(["diamond@1.0.0", "diamond@1.0.0.A.0", "diamond@1.0.0.B.0", "diamond@1.0.0.B.1"]);
    d.tasks.find((t) => t.name === "C")!.isolate = true;
    // A and D now touch only through B (another count) and C (isolated): each alone.
    expect(processPlan(d).map((p) => p.id)).toEqual(["diamond@1.0.0", "diamond@1.0.0.A.0", "diamond@1.0.0.B.0", "diamond@1.0.0.B.1", "diamond@1.0.0.C.0", "diamond@1.0.0.D.0"]);
  });
  test("a scale of any task of a fused worker scales the whole worker, with no other process changed", () => {
    const d = deployment("diamond", { A: 1, B: 1, C: 1, D: 1 });
    d.edges = [["A", "B"], ["A", "C"], ["B", "D"], ["C", "D"]];
    expect(processPlan(d, { C: 3 }).map((p) => p.id)).toEqual(["diamond@1.0.0", "diamond@1.0.0.A.0", "diamond@1.0.0.A.1", "diamond@1.0.0.A.2"]);
  });
  test("workerOf names the worker that hosts a task (its first task) and all it hosts", () => {
    const d = deployment("chain", { A: 1, B: 1, C: 1, D: 1 });
    d.edges = [["A", "B"], ["B", "C"], ["C", "D"]];
    d.tasks.find((t) => t.name === "D")!.isolate = true;
    expect(workerOf(d, "C")).toEqual({ leader: "A", tasks: ["A", "B", "C"] });
    expect(workerOf(d, "D")).toEqual({ leader: "D", tasks: ["D"] });
    expect(workerOf(d, "E")).toBeUndefined();
  });
  test("a stop may drain for the message timeout plus a margin", () => {
    expect(processPlan(deployment("d", { A: 1 }))[0]!.stop_timeout_ms).toBe(10_000);
  });
});

describe("schedule", () => {
  test("every process of a fitting topology is placed, each exactly once", () => {
    const r = schedule({ topologies: [diamond()], agents: [{ name: "a", slots: 4 }, { name: "b", slots: 4 }], current: {} });
    expect(r.pending).toEqual([]);
    expect(Object.keys(where(r)).sort()).toEqual(["diamond@1.0.0", "diamond@1.0.0.A.0", "diamond@1.0.0.B.0", "diamond@1.0.0.B.1", "diamond@1.0.0.C.0", "diamond@1.0.0.D.0"]);
  });

  test("the instances of one task are spread over agents", () => {
    const r = schedule({ topologies: [diamond()], agents: [{ name: "a", slots: 8 }, { name: "b", slots: 8 }, { name: "c", slots: 8 }], current: {} });
    const w = where(r);
    expect(w["diamond@1.0.0.B.0"]).toBeDefined();
    expect(w["diamond@1.0.0.B.0"]).not.toBe(w["diamond@1.0.0.B.1"]);
  });

  test("load is spread: every agent gets some, none more than half", () => {
    const r = schedule({ topologies: [diamond()], agents: [{ name: "a", slots: 8 }, { name: "b", slots: 8 }, { name: "c", slots: 8 }], current: {} });
    const n = Object.values(count(r));
    expect(Math.min(...n)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...n)).toBeLessThanOrEqual(3);
  });

  test("an agent never gets more processes than its slots", () => {
    const r = schedule({ topologies: [diamond()], agents: [{ name: "a", slots: 1 }, { name: "b", slots: 5 }], current: {} });
    expect(count(r)).toEqual({ a: 1, b: 5 });
  });

  test("a topology whose essential processes do not fit is pending with the reason, and none of it runs", () => {
    // The topology service and instance 0 of each task: 5 of the diamond's 6.
    const r = schedule({ topologies: [diamond()], agents: [{ name: "a", slots: 2 }, { name: "b", slots: 2 }], current: {} });
    expect(count(r)).toEqual({ a: 0, b: 0 });
    expect(r.pending).toEqual([{ topology: "diamond", reason: "needs 5 slots, 4 free on 2 live agents — add agents or slots (--slots), or lower workers" }]);
    expect(r.degraded).toEqual([]);
  });

  test("with no live agent, a topology is pending and says so", () => {
    const r = schedule({ topologies: [diamond()], agents: [], current: {} });
    expect(r.pending[0]!.reason).toBe("needs 5 slots, and no agent is alive");
  });

  test("room for the essentials but not every instance: it runs degraded, with the reason", () => {
    const r = schedule({ topologies: [diamond()], agents: [{ name: "a", slots: 5 }], current: {} });
    expect(r.pending).toEqual([]);
    expect(Object.keys(where(r)).sort()).toEqual(["diamond@1.0.0", "diamond@1.0.0.A.0", "diamond@1.0.0.B.0", "diamond@1.0.0.C.0", "diamond@1.0.0.D.0"]);
    expect(r.degraded).toEqual([{ topology: "diamond", reason: "1 of 6 processes not placed: no free slot on 1 live agent — add agents or slots (--slots), or lower workers" }]);
  });

  test("losing an agent degrades a running topology instead of stopping it", () => {
    const agents = [{ name: "a", slots: 6 }, { name: "b", slots: 4 }];
    const wide = { name: "diamond", processes: processPlan(deployment("diamond", { A: 2, B: 2, C: 2, D: 1 })) }; // 8 processes, 5 essential
    const first = schedule({ topologies: [wide], agents, current: {} });
    expect(Object.keys(where(first)).length).toBe(8);
    const after = schedule({ topologies: [wide], agents: [agents[0]!], current: first.assignments });
    expect(after.pending).toEqual([]);
    const ids = after.assignments.a!.map((p) => p.id);
    expect(ids.length).toBe(6);
    for (const essential of ["diamond@1.0.0", "diamond@1.0.0.A.0", "diamond@1.0.0.B.0", "diamond@1.0.0.C.0", "diamond@1.0.0.D.0"]) expect(ids).toContain(essential);
    expect(after.degraded).toEqual([{ topology: "diamond", reason: "2 of 8 processes not placed: no free slot on 1 live agent — add agents or slots (--slots), or lower workers" }]);
  });

  test("one topology's extra instances never take the slots another needs to run at all", () => {
    const small = { name: "small", processes: processPlan(deployment("small", { X: 1 })) };
    const big = { name: "big", processes: processPlan(deployment("big", { X: 9 })) };
    const r = schedule({ topologies: [small, big], agents: [{ name: "a", slots: 4 }], current: {} });
    expect(r.pending).toEqual([]);
    expect(r.assignments.a!.map((p) => p.id).sort()).toEqual(["big@1.0.0", "big@1.0.0.X.0", "small@1.0.0", "small@1.0.0.X.0"]);
    expect(r.degraded.map((d) => d.topology)).toEqual(["big"]);
  });

  test("a topology that must be whole (a reload's new version) is placed whole or not at all", () => {
    const r = schedule({ topologies: [{ ...diamond(), whole: true }], agents: [{ name: "a", slots: 5 }], current: {} });
    expect(r.pending[0]!.reason).toBe("needs 6 slots, 5 free on 1 live agent — add agents or slots (--slots), or lower workers");
    expect(r.assignments.a).toEqual([]);
  });

  test("running processes stay where they are when nothing changed", () => {
    const agents = [{ name: "a", slots: 8 }, { name: "b", slots: 8 }];
    const first = schedule({ topologies: [diamond()], agents, current: {} });
    // b's processes were placed on a, as if b had joined later
    const skewed = { a: [...first.assignments.a!, ...first.assignments.b!], b: [] };
    const again = schedule({ topologies: [diamond()], agents, current: skewed });
    expect(where(again)).toEqual(where({ assignments: skewed, pending: [], degraded: [] }));
  });

  test("the processes of a dead agent are re-placed on the live ones; the others do not move", () => {
    const agents = [{ name: "a", slots: 8 }, { name: "b", slots: 8 }, { name: "c", slots: 8 }];
    const first = schedule({ topologies: [diamond()], agents, current: {} });
    const before = where(first);
    const after = where(schedule({ topologies: [diamond()], agents: agents.filter((a) => a.name !== "b"), current: first.assignments }));
    for (const [id, agent] of Object.entries(before)) {
      if (agent === "b") expect(["a", "c"]).toContain(after[id]!);
      else expect(after[id]).toBe(agent);
    }
    expect(Object.keys(after).length).toBe(6);
  });

  test("a new version replaces every process of the topology", () => {
    const agents = [{ name: "a", slots: 12 }];
    const first = schedule({ topologies: [diamond("1.0.0")], agents, current: {} });
    const next = schedule({ topologies: [diamond("2.0.0")], agents, current: first.assignments });
    expect(next.assignments.a!.every((p: PlannedProcess) => p.version === "2.0.0")).toBe(true);
    expect(next.assignments.a!.length).toBe(6);
  });

  test("a stopped topology (not in the input) leaves its agents", () => {
    const agents = [{ name: "a", slots: 8 }];
    const first = schedule({ topologies: [diamond()], agents, current: {} });
    expect(schedule({ topologies: [], agents, current: first.assignments }).assignments).toEqual({ a: [] });
  });

  test("the same input gives the same output (deterministic)", () => {
    const input = { topologies: [diamond()], agents: [{ name: "b", slots: 3 }, { name: "a", slots: 3 }], current: {} };
    expect(schedule(input)).toEqual(schedule(structuredClone(input)));
  });

  test("running processes keep their slots before a topology earlier in order places new ones", () => {
    const b = { name: "b", processes: processPlan(deployment("b", { X: 1 })) };
    const first = schedule({ topologies: [b], agents: [{ name: "n1", slots: 2 }], current: {} });
    // "a" sorts first and wants 2 slots too: it must not push the running "b" off its agent.
    const a = { name: "a", processes: processPlan(deployment("a", { X: 1 })) };
    const r = schedule({ topologies: [a, b], agents: [{ name: "n1", slots: 2 }], current: first.assignments });
    expect(r.assignments.n1!.map((p) => p.id)).toEqual(["b@1.0.0", "b@1.0.0.X.0"]);
    expect(r.pending.map((p) => p.topology)).toEqual(["a"]);
  });

  test("a live scale changes only the instance count of that task", () => {
    const d = deployment("diamond", { A: 1, B: 2, C: 1, D: 1 });
    const agents = [{ name: "n1", slots: 8 }, { name: "n2", slots: 8 }];
    const first = schedule({ topologies: [{ name: "diamond", processes: processPlan(d) }], agents, current: {} });
    const up = schedule({ topologies: [{ name: "diamond", processes: processPlan(d, { B: 3 }) }], agents, current: first.assignments });
    const before = where(first);
    const after = where(up);
    for (const [id, agent] of Object.entries(before)) expect(after[id]).toBe(agent);
    expect(Object.keys(after).filter((id) => id.includes(".B.")).length).toBe(3);
  });

  test("an agent whose slots shrank keeps only what fits; the rest moves", () => {
    const agents = [{ name: "a", slots: 8 }, { name: "b", slots: 8 }];
    const all = processPlan(deployment("diamond", { A: 1, B: 2, C: 1, D: 1 }));
    const r = schedule({ topologies: [diamond()], agents: [{ name: "a", slots: 2 }, agents[1]!], current: { a: all } });
    expect(count(r)).toEqual({ a: 2, b: 4 });
  });
});
