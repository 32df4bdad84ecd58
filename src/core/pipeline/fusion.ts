/**
 * Fused workers (DESIGN.md §5): which tasks share one worker process, and what that changes
 * about who delivers what. Shared by the topology (its pipeline routes only what crosses a
 * worker's boundary) and the worker (it runs everything inside its boundary as function calls),
 * so both sides derive the same answer from the same topology.
 *
 * Inside a unit, a delivery that enters at task X runs X and every task reachable from X along
 * edges inside the unit (its "cover"), in topological order. A task's outputs leave the worker
 * ("exit") only when some child is not handled there: a child in another unit, or a join that
 * cannot be resolved inside the worker.
 *
 * A join J is resolved inside its worker ("local") when all of J's ancestors are in J's unit and
 * exactly one of them is a root: then every call that feeds J for one root message happens
 * within the one delivery of that root (the source delivers each root message once to each root
 * task). Any other join is resolved by the topology, which sees every delivery of the root.
 */
import type { TaskSpec } from "./types.ts";

export interface FusedTask {
  index: number;
  name: string;
  unit: number;
  join: "union" | "all";
  /** Parent indices, in TaskSpec.parents order (a join payload's order). */
  parents: number[];
  /** Union children the worker delivers to itself, and the edge of each (shared, frozen). */
  localUnion: number[];
  localUnionEdges: ReadonlyArray<readonly [string, string]>;
  /** ["$join", name]: the edge of its join call (shared, frozen). */
  joinEdge: readonly [string, string];
  /** Local join children, each with this task's position among the join's parents. */
  localJoin: Array<{ task: number; pos: number }>;
  /** Children the topology delivers to (other units, or joins the topology resolves). */
  remoteUnion: number[];
  remoteJoin: number[];
  /** Its outputs go back to the topology: it has a remote child. */
  exits: boolean;
  /** A join resolved inside its worker. */
  joinsLocally: boolean;
  /** This task, then what a delivery entering here runs, in topological order. */
  cover: number[];
}

export interface Fusion {
  tasks: FusedTask[];
  byName: Map<string, number>;
  /** Task indices of each unit, in topological order; units[i][0] is the unit's first task. */
  units: number[][];
  /** Every task index in one topological order. */
  order: number[];
}

/**
 * `units`: groups of task names that share a worker (each task in at most one group); a task in
 * no group is alone. Throws an Error naming the problem when a group names an unknown task.
 * The specs must form a DAG (compileGraph checks that first).
 */
export function fuse(specs: TaskSpec[], units: string[][] = []): Fusion {
  const byName = new Map<string, number>();
  specs.forEach((s, i) => byName.set(s.name, i));
  const unitOf = new Array<number>(specs.length).fill(-1);
  let next = 0;
  for (const group of units) {
    if (group.length === 0) continue;
    const u = next++;
    for (const name of group) {
      const i = byName.get(name);
      if (i === undefined) throw new Error(`fused worker lists unknown task "${name}"`);
      if (unitOf[i] !== -1) throw new Error(`task "${name}" is in two fused workers`);
      unitOf[i] = u;
    }
  }
  for (let i = 0; i < specs.length; i++) if (unitOf[i] === -1) unitOf[i] = next++;

  const parents = specs.map((s) => s.parents.map((p) => byName.get(p)!));
  const children = specs.map((s) => s.children.map((c) => byName.get(c)!));
  const order = topoOrder(parents, children);
  const rank = new Array<number>(specs.length);
  order.forEach((t, k) => (rank[t] = k));

  const ancestors = specs.map(() => new Set<number>());
  for (const t of order) for (const p of parents[t]!) {
    ancestors[t]!.add(p);
    for (const a of ancestors[p]!) ancestors[t]!.add(a);
  }
  const isJoin = (t: number) => specs[t]!.join === "all" && parents[t]!.length > 0;
  const local = specs.map((_, t) => {
    if (!isJoin(t)) return false;
    const anc = [...ancestors[t]!];
    return anc.every((a) => unitOf[a] === unitOf[t]) && anc.filter((a) => parents[a]!.length === 0).length === 1;
  });

  const tasks: FusedTask[] = specs.map((s, i) => {
    const localUnion: number[] = [];
    const localJoin: Array<{ task: number; pos: number }> = [];
    const remoteUnion: number[] = [];
    const remoteJoin: number[] = [];
    for (const c of children[i]!) {
      if (isJoin(c)) {
        if (local[c]) localJoin.push({ task: c, pos: parents[c]!.indexOf(i) });
        else remoteJoin.push(c);
      } else if (unitOf[c] === unitOf[i]) localUnion.push(c);
      else remoteUnion.push(c);
    }
    const localUnionEdges = localUnion.map((c) => Object.freeze([s.name, specs[c]!.name] as [string, string]));
    return { index: i, name: s.name, unit: unitOf[i]!, join: s.join, parents: parents[i]!, localUnion, localUnionEdges, joinEdge: Object.freeze(["$join", s.name] as [string, string]), localJoin, remoteUnion, remoteJoin, exits: remoteUnion.length + remoteJoin.length > 0, joinsLocally: local[i]!, cover: [] };
  });
  for (const t of tasks) {
    const seen = new Set<number>([t.index]);
    const stack = [t.index];
    while (stack.length > 0) {
      const x = tasks[stack.pop()!]!;
      for (const c of [...x.localUnion, ...x.localJoin.map((j) => j.task)]) if (!seen.has(c)) { seen.add(c); stack.push(c); }
    }
    t.cover = [...seen].sort((a, b) => rank[a]! - rank[b]!);
  }
  const byUnit: number[][] = Array.from({ length: next }, () => []);
  for (const t of order) byUnit[unitOf[t]!]!.push(t);
  return { tasks, byName, units: byUnit.filter((u) => u.length > 0), order };
}

function topoOrder(parents: number[][], children: number[][]): number[] {
  const indegree = parents.map((p) => p.length);
  const order: number[] = [];
  for (let i = 0; i < parents.length; i++) if (indegree[i] === 0) order.push(i);
  for (let k = 0; k < order.length; k++) for (const c of children[order[k]!]!) if (--indegree[c]! === 0) order.push(c);
  return order;
}

/** What decides grouping (Flink's chaining rule is the anchor): per task, its instance count and whether it asked for its own processes. */
export interface GroupingInput {
  /** Task names in the DAG's order. */
  tasks: string[];
  edges: Array<[string, string]>;
  workers: (task: string) => number;
  isolated: (task: string) => boolean;
}

export interface WorkerUnit {
  /** The unit's first task in the DAG's order: processes and logs are named after it. */
  leader: string;
  tasks: string[];
  workers: number;
}

/**
 * The default grouping: tasks joined by an edge share a worker when both have the same number
 * of instances and neither is isolated (`isolate = true`). Like Flink's chaining, so a task's
 * `workers` keeps its meaning; unlike it, fan-in is fused too, as a delivery inside a worker is
 * a function call whatever the shape of the graph.
 */
export function groupTasks(input: GroupingInput): WorkerUnit[] {
  const parent = new Map(input.tasks.map((t) => [t, t]));
  const find = (t: string): string => {
    let r = t;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(t, r);
    return r;
  };
  for (const [a, b] of input.edges) {
    if (input.isolated(a) || input.isolated(b) || input.workers(a) !== input.workers(b)) continue;
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) continue;
    // The root is always the earlier task, so a unit's representative is its leader.
    if (input.tasks.indexOf(ra) < input.tasks.indexOf(rb)) parent.set(rb, ra);
    else parent.set(ra, rb);
  }
  const units = new Map<string, string[]>();
  for (const t of input.tasks) {
    const r = find(t);
    units.set(r, [...(units.get(r) ?? []), t]);
  }
  return [...units.values()].map((tasks) => ({ leader: tasks[0]!, tasks, workers: input.workers(tasks[0]!) }));
}
