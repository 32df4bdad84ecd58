import { describe, expect, test } from "bun:test";
import { fuse, groupTasks } from "./fusion.ts";
import { createPipeline, isIdle, step } from "./pipeline.ts";
import { mulberry32, tasksFrom } from "./_testkit.ts";
import type { Effect, TaskSpec } from "./types.ts";
import { UnitRun } from "./unit-run.ts";

const diamond = "A-->B, A-->C, B-->D, C-->D";

describe("groupTasks: the default grouping", () => {
  const edges: Array<[string, string]> = [["A", "B"], ["A", "C"], ["B", "D"], ["C", "D"]];
  const tasks = ["A", "B", "C", "D"];
  test("tasks with the same instance count share one worker, named after the first", () => {
    expect(groupTasks({ tasks, edges, workers: () => 2, isolated: () => false })).toEqual([{ leader: "A", tasks, workers: 2 }]);
  });
  test("another instance count or isolate = true splits a task off (Flink's chaining rule)", () => {
    expect(groupTasks({ tasks, edges, workers: (t) => (t === "B" ? 4 : 1), isolated: () => false })).toEqual([
      { leader: "A", tasks: ["A", "C", "D"], workers: 1 },
      { leader: "B", tasks: ["B"], workers: 4 },
    ]);
    expect(groupTasks({ tasks, edges, workers: (t) => (t === "B" ? 4 : 1), isolated: (t) => t === "C" }).map((u) => u.tasks)).toEqual([["A"], ["B"], ["C"], ["D"]]);
  });
});

describe("fuse", () => {
  test("inside a worker only what crosses its boundary leaves it", () => {
    const f = fuse(tasksFrom(diamond), [["A", "B"]]);
    const [A, B, C, D] = f.tasks;
    expect(A!.cover).toEqual([0, 1]);
    expect(A!.localUnion).toEqual([1]);
    expect(A!.remoteUnion).toEqual([2]);
    expect(B!.exits && C!.exits && !D!.exits).toBe(true);
  });
  test("a join is local only when all its ancestors are in its worker and come from one root", () => {
    expect(fuse(tasksFrom(diamond, ["D"]), [["A", "B", "C", "D"]]).tasks[3]!.joinsLocally).toBe(true);
    expect(fuse(tasksFrom(diamond, ["D"]), [["B", "C", "D"]]).tasks[3]!.joinsLocally).toBe(false);
    expect(fuse(tasksFrom("A-->C, B-->C", ["C"]), [["A", "B", "C"]]).tasks[2]!.joinsLocally).toBe(false);
  });
  test("a group naming an unknown task is an error", () => {
    expect(() => fuse(tasksFrom("A"), [["A", "Z"]])).toThrow('fused worker lists unknown task "Z"');
  });
});

// ---- property: for any DAG and any grouping, the handler calls are those of one process per task

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A join's lists hold outputs in arrival order, which differs between runs: compare them sorted. */
function norm(v: unknown): string {
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    return JSON.stringify(Object.entries(v).map(([k, list]) => [k, (list as unknown[]).map((x) => JSON.stringify(x)).sort()]));
  }
  return JSON.stringify(v);
}

/** A deterministic handler: 0–2 outputs that name the task and its input. */
function handler(task: string, value: unknown): unknown[] {
  const key = `${task}:${norm(value)}`;
  const h = hash(key);
  return Array.from({ length: h % 3 }, (_, i) => `${task}.${(h >>> 4) % 10000}.${i}`);
}

/** The outputs as a handler may return them: an array, or one value alone, or nothing as undefined or null. */
function asReturned(outputs: unknown[], n: number): unknown {
  if (outputs.length === 1 && n % 2 === 0) return outputs[0];
  if (outputs.length === 0) return [undefined, null, []][n % 3];
  return outputs;
}

/** One process per task, computed directly: every call a root causes. */
function reference(specs: TaskSpec[], payload: unknown): string[] {
  const f = fuse(specs);
  const outputs = new Map<number, unknown[]>();
  const calls: string[] = [];
  for (const t of f.order) {
    const spec = specs[t]!;
    const ins: Array<[unknown, string]> = [];
    if (spec.parents.length === 0) ins.push([payload, "$source"]);
    else if (spec.join === "all") {
      const parts = spec.parents.map((p) => [p, outputs.get(f.byName.get(p)!) ?? []] as const);
      if (parts.some(([, o]) => o.length > 0)) ins.push([Object.fromEntries(parts), "$join"]);
    } else for (const p of spec.parents) for (const o of outputs.get(f.byName.get(p)!) ?? []) ins.push([o, p]);
    const out: unknown[] = [];
    for (const [v, from] of ins) {
      calls.push(`${spec.name}<${from}|${norm(v)}`);
      out.push(...handler(spec.name, v));
    }
    outputs.set(t, out);
  }
  return calls.sort();
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as unknown;

/** The pipeline with fused workers that run UnitRun: every call, per root. */
function fused(specs: TaskSpec[], units: string[][], payloads: Map<string, unknown>): Map<string, string[]> {
  const st = createPipeline({
    topology: "p", tasks: specs, timeoutMs: 1e9, leaseMs: 1e9, retry: 0, maxPending: 1e6, backoff: { initialMs: 0, maxMs: 0, factor: 1 }, units,
    encodeJoin: (parts) => enc(Object.fromEntries(parts.map(([p, outs]) => [p, outs.map(dec)]))),
  });
  const f = fuse(specs, units);
  const calls = new Map<string, string[]>();
  const queue: Array<Effect & { type: "deliver" }> = [];
  const acked = new Set<string>();
  const run = (effects: Effect[]) => {
    for (const e of effects) {
      if (e.type === "deliver") queue.push(e);
      else if (e.type === "ack") acked.add(e.rootId);
      else throw new Error(`unexpected ${e.type}`);
    }
  };
  f.units.forEach((u, i) => run(step(st, { type: "session_open", session: `w${i}`, task: specs[u[0]!]!.name }, 0)));
  f.units.forEach((_, i) => run(step(st, { type: "credits", session: `w${i}`, n: 1e6 }, 0)));
  for (const [id, p] of payloads) run(step(st, { type: "source", id, payload: enc(p) }, 0));
  while (queue.length > 0) {
    const d = queue.shift()!;
    const outputs: Uint8Array[] = [];
    const producers: number[] = [];
    const entry = f.byName.get(d.edge[1])!;
    const unitRun = new (class extends UnitRun {
      protected exit(t: number, v: unknown) {
        outputs.push(enc(v));
        producers.push(t);
      }
      protected clone(v: unknown) {
        return structuredClone(v);
      }
    })(f, entry, d.edge, dec(d.payload));
    const log = calls.get(d.rootId) ?? [];
    calls.set(d.rootId, log);
    while (unitRun.next()) {
      const name = specs[unitRun.task]!.name;
      log.push(`${name}<${unitRun.edge[0]}|${norm(unitRun.value)}`);
      unitRun.result(asReturned(handler(name, unitRun.value), log.length));
    }
    run(step(st, { type: "done", session: d.session, delivery: d.delivery, outputs, producers }, 0));
  }
  expect([...acked].sort()).toEqual([...payloads.keys()].sort());
  expect(isIdle(st)).toBe(true);
  for (const l of calls.values()) l.sort();
  return calls;
}

test("randomized: 1500 random DAGs and groupings make exactly the calls of one process per task", () => {
  for (let seed = 1; seed <= 1500; seed++) {
    const rng = mulberry32(seed);
    const int = (n: number) => Math.floor(rng() * n);
    const n = 1 + int(7);
    const names = Array.from({ length: n }, (_, i) => `T${i}`);
    const specs: TaskSpec[] = names.map((name) => ({ name, parents: [], children: [], join: "union" }));
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (rng() < 0.45) {
      specs[i]!.children.push(names[j]!);
      specs[j]!.parents.push(names[i]!);
    }
    for (const s of specs) if (s.parents.length > 0 && rng() < 0.4) s.join = "all";
    // a random grouping: each task goes into one of up to 3 groups
    const groups: string[][] = [[], [], []];
    for (const name of names) groups[int(3)]!.push(name);
    const payloads = new Map(Array.from({ length: 1 + int(4) }, (_, i) => [`r${i}`, seed * 10 + i] as const));
    const got = fused(specs, groups, payloads);
    for (const [id, p] of payloads) {
      const want = reference(specs, p);
      expect({ seed, id, calls: got.get(id) ?? [] }).toEqual({ seed, id, calls: want });
    }
  }
});
