import type { TaskSpec } from "../pipeline/types.ts";
import type { Topology } from "./model.ts";

/** The pipeline's view of a topology: parents, children and join mode of every task, in the DAG's order. */
export function taskSpecs(t: Topology): TaskSpec[] {
  const join = new Map(t.tasks.map((x) => [x.name, x.join]));
  return t.dag.tasks.map((name) => ({
    name,
    parents: t.dag.edges.filter(([, to]) => to === name).map(([from]) => from),
    children: t.dag.edges.filter(([from]) => from === name).map(([, to]) => to),
    join: join.get(name) ?? "union",
  }));
}
