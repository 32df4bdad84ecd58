/**
 * Which processes run a topology's tasks (DESIGN.md §5, fused workers): the one place that
 * decides it, used by `tempest run`, the cluster's process plan, the topology (which checks a
 * worker's hello against it) and the worker itself.
 */
import { DEFAULTS } from "../config/runtime-schema.ts";
import { groupTasks, type WorkerUnit } from "../pipeline/fusion.ts";
import type { Topology } from "./model.ts";

export type { WorkerUnit };

/** The topology's workers: tasks joined by an edge share one when their `workers` match and neither sets `isolate = true`. */
export function workerUnits(t: Topology): WorkerUnit[] {
  return groupTasks({
    tasks: t.dag.tasks,
    edges: t.dag.edges,
    workers: (task) => t.runtime.task[task]?.workers ?? DEFAULTS.workers,
    isolated: (task) => t.runtime.task[task]?.isolate === true,
  });
}

/** The worker that hosts `task`. */
export function unitOf(t: Topology, task: string): WorkerUnit | undefined {
  return workerUnits(t).find((u) => u.tasks.includes(task));
}

/** A task's handler calls in flight per process: Runtime.toml, else its definition, else the default. */
export function taskConcurrency(t: Topology, task: string): number {
  return t.runtime.task[task]?.concurrency ?? t.tasks.find((x) => x.name === task)?.concurrency ?? DEFAULTS.concurrency;
}

/**
 * Deliveries a fused worker works on at once: the smallest concurrency of its tasks, as each
 * delivery makes one call at a time, so no task ever runs more calls than it allows.
 */
export function unitConcurrency(t: Topology, unit: WorkerUnit): number {
  return Math.min(...unit.tasks.map((task) => taskConcurrency(t, task)));
}
