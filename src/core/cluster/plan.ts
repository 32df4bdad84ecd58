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
 * The processes a deployed topology needs (DESIGN.md §9): one topology service and `workers`
 * instances of every task (or the count a live `scale` set). The scheduler places whatever this returns, so how tasks group into
 * processes is decided here and nowhere else.
 */
export function processPlan(d: Deployment, workers: Record<string, number> = {}): PlannedProcess[] {
  const stop = d.timeout_ms + STOP_MARGIN_MS;
  const out: PlannedProcess[] = [
    { id: topologyProcessId(d.topology, d.version), kind: "topology", topology: d.topology, instance: 0, version: d.version, executable: d.topology_executable.executable, sha256: d.topology_executable.sha256, stop_timeout_ms: stop },
  ];
  for (const t of d.tasks) {
    const n = workers[t.name] ?? t.workers;
    for (let i = 0; i < n; i++) {
      out.push({ id: taskProcessId(d.topology, t.name, i, d.version), kind: "task", topology: d.topology, task: t.name, instance: i, version: d.version, executable: t.executable.executable, sha256: t.executable.sha256, stop_timeout_ms: stop });
    }
  }
  return out;
}
