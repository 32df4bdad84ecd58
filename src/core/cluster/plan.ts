import { groupTasks } from "../pipeline/fusion.ts";
import type { Deployment, PlannedProcess } from "./model.ts";

/** A topology's processes get this long past its message timeout to drain on stop. */
export const STOP_MARGIN_MS = 5_000;

/** Ids carry the version: during a reload both versions of a process run side by side. */
export function topologyProcessId(topology: string, version: string): string {
  return `${topology}@${fileSafeVersion(version)}`;
}

export function taskProcessId(topology: string, task: string, instance: number, version: string): string {
  return `${topology}@${fileSafeVersion(version)}.${task}.${instance}`;
}

function fileSafeVersion(v: string): string {
  return v.replace(/[^A-Za-z0-9._-]+/g, "-");
}

/**
 * The processes a deployed topology needs (DESIGN.md §9): one topology service and, for each
 * worker (core/pipeline/fusion.ts groupTasks: tasks that share a process), `workers` instances
 * of the executable of its first task, which hosts all of the worker's tasks. Which tasks share
 * a worker is decided from the deployment as it was built, as the processes decide it from the
 * same settings; a live `scale` of any of a worker's tasks scales the whole worker. The
 * scheduler places whatever this returns, so how tasks group into processes is decided here
 * and nowhere else.
 */
export function processPlan(d: Deployment, workers: Record<string, number> = {}): PlannedProcess[] {
  const stop = d.timeout_ms + STOP_MARGIN_MS;
  const out: PlannedProcess[] = [
    { id: topologyProcessId(d.topology, d.version), kind: "topology", topology: d.topology, instance: 0, version: d.version, executable: d.topology_executable.executable, sha256: d.topology_executable.sha256, stop_timeout_ms: stop },
  ];
  const byName = new Map(d.tasks.map((t) => [t.name, t]));
  for (const u of deployedWorkers(d)) {
    const t = byName.get(u.leader)!;
    const scaled = u.tasks.map((x) => workers[x]).filter((n): n is number => n !== undefined);
    const n = scaled.length > 0 ? Math.max(...scaled) : u.workers;
    for (let i = 0; i < n; i++) {
      out.push({ id: taskProcessId(d.topology, t.name, i, d.version), kind: "task", topology: d.topology, task: t.name, instance: i, version: d.version, executable: t.executable.executable, sha256: t.executable.sha256, stop_timeout_ms: stop });
    }
  }
  return out;
}

/** The deployment's workers (tasks that share a process), as it was built. */
export function deployedWorkers(d: Deployment): ReturnType<typeof groupTasks> {
  const byName = new Map(d.tasks.map((t) => [t.name, t]));
  return groupTasks({ tasks: d.tasks.map((t) => t.name), edges: d.edges, workers: (t) => byName.get(t)?.workers ?? 1, isolated: (t) => byName.get(t)?.isolate === true });
}

/** The worker that hosts `task`: its first task names its processes; `tasks` all it hosts. */
export function workerOf(d: Deployment, task: string): { leader: string; tasks: string[] } | undefined {
  const u = deployedWorkers(d).find((x) => x.tasks.includes(task));
  return u ? { leader: u.leader, tasks: [...u.tasks] } : undefined;
}
