/**
 * Compiles a topology's TaskSpec list into index-based tables the state machine uses on the
 * hot path: children split into union deliveries and join buffers, ancestor sets and a
 * topological order of join tasks. Private to the pipeline folder.
 */
import { fuse } from "./fusion.ts";
import type { TaskSpec } from "./types.ts";

export interface GraphTask {
  index: number;
  name: string;
  /** The fused worker (unit) it runs in. */
  unit: number;
  /** Ordinal in Graph.joins when the topology resolves this task's join, else -1 (a union task, or a join its worker resolves). */
  joinOrdinal: number;
  /** Union children in other units: one delivery per output to each, on the edge in unionEdges[i]. */
  unionChildren: number[];
  unionEdges: Array<[string, string]>;
  /** Joins the topology resolves: outputs are buffered at joinChildren[i] under parent position joinParentPos[i]. */
  joinChildren: number[];
  joinParentPos: number[];
  /** ["$source", name] for a root task, ["$join", name] for a join task. */
  sourceEdge: [string, string];
  joinEdge: [string, string];
}

export interface GraphJoin {
  task: number;
  /** Parent names in TaskSpec.parents order (the order of the encodeJoin parts). */
  parents: string[];
  /** Every task upstream of the join (transitively), as task indices. */
  ancestors: number[];
  /** Join ordinals of the joins among the ancestors. */
  joinAncestors: number[];
}

export interface Graph {
  tasks: GraphTask[];
  byName: Map<string, number>;
  /** Tasks with no parents, in TaskSpec order. */
  roots: number[];
  /** Join tasks the topology resolves, in topological order: a join comes after every join upstream of it. */
  joins: GraphJoin[];
  /** Task indices of each fused worker (unit), in topological order. */
  units: number[][];
}

/** Builds the tables; throws an Error naming the topology and task when the spec is not a DAG. */
export function compileGraph(topology: string, specs: TaskSpec[], units: string[][] = []): Graph {
  const where = `pipeline "${topology}"`;
  if (specs.length === 0) throw new Error(`${where}: no tasks`);
  const byName = new Map<string, number>();
  specs.forEach((spec, i) => {
    if (byName.has(spec.name)) throw new Error(`${where}: task "${spec.name}" is listed twice`);
    byName.set(spec.name, i);
  });
  const parentsOf: number[][] = specs.map((spec) =>
    spec.parents.map((p) => {
      const j = byName.get(p);
      if (j === undefined) throw new Error(`${where}: task "${spec.name}" lists unknown parent "${p}"`);
      return j;
    }),
  );
  const childrenOf: number[][] = specs.map((spec) =>
    spec.children.map((c) => {
      const j = byName.get(c);
      if (j === undefined) throw new Error(`${where}: task "${spec.name}" lists unknown child "${c}"`);
      return j;
    }),
  );
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    if (new Set(spec.parents).size !== spec.parents.length) throw new Error(`${where}: task "${spec.name}" lists a parent twice`);
    if (new Set(spec.children).size !== spec.children.length) throw new Error(`${where}: task "${spec.name}" lists a child twice`);
    for (const c of childrenOf[i]!) {
      if (!parentsOf[c]!.includes(i)) throw new Error(`${where}: task "${spec.name}" lists child "${specs[c]!.name}" but "${specs[c]!.name}" does not list it as a parent`);
    }
    for (const p of parentsOf[i]!) {
      if (!childrenOf[p]!.includes(i)) throw new Error(`${where}: task "${spec.name}" lists parent "${specs[p]!.name}" but "${specs[p]!.name}" does not list it as a child`);
    }
  }

  // Kahn's algorithm: a topological order, or a cycle.
  const indegree = parentsOf.map((ps) => ps.length);
  const order: number[] = [];
  for (let i = 0; i < specs.length; i++) if (indegree[i] === 0) order.push(i);
  for (let k = 0; k < order.length; k++) {
    for (const c of childrenOf[order[k]!]!) if (--indegree[c]! === 0) order.push(c);
  }
  if (order.length !== specs.length) {
    const stuck = specs.filter((_, i) => indegree[i]! > 0).map((s) => s.name);
    throw new Error(`${where}: the tasks ${stuck.join(", ")} form a cycle`);
  }

  const ancestorSets: Array<Set<number>> = specs.map(() => new Set<number>());
  for (const t of order) {
    const set = ancestorSets[t]!;
    for (const p of parentsOf[t]!) {
      set.add(p);
      for (const a of ancestorSets[p]!) set.add(a);
    }
  }

  let fusion: ReturnType<typeof fuse>;
  try {
    fusion = fuse(specs, units);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  const joinOrdinal = new Array<number>(specs.length).fill(-1);
  const joinTasks = order.filter((t) => specs[t]!.join === "all" && parentsOf[t]!.length > 0 && !fusion.tasks[t]!.joinsLocally);
  joinTasks.forEach((t, ord) => (joinOrdinal[t] = ord));

  const joins: GraphJoin[] = joinTasks.map((t) => {
    const ancestors = [...ancestorSets[t]!].sort((a, b) => a - b);
    return {
      task: t,
      parents: specs[t]!.parents.slice(),
      ancestors,
      joinAncestors: ancestors.filter((a) => joinOrdinal[a]! >= 0).map((a) => joinOrdinal[a]!),
    };
  });

  const tasks: GraphTask[] = specs.map((spec, i) => {
    const unionChildren: number[] = [];
    const unionEdges: Array<[string, string]> = [];
    const joinChildren: number[] = [];
    const joinParentPos: number[] = [];
    const f = fusion.tasks[i]!;
    for (const c of f.remoteJoin) {
      joinChildren.push(joinOrdinal[c]!);
      joinParentPos.push(parentsOf[c]!.indexOf(i));
    }
    for (const c of f.remoteUnion) {
      unionChildren.push(c);
      unionEdges.push([spec.name, specs[c]!.name]);
    }
    return {
      index: i,
      name: spec.name,
      unit: f.unit,
      joinOrdinal: joinOrdinal[i]!,
      unionChildren,
      unionEdges,
      joinChildren,
      joinParentPos,
      sourceEdge: ["$source", spec.name],
      joinEdge: ["$join", spec.name],
    };
  });

  const roots = specs.map((_, i) => i).filter((i) => parentsOf[i]!.length === 0);
  return { tasks, byName, roots, joins, units: fusion.units };
}
