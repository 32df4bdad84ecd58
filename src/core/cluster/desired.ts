import type { Deployment, PlannedProcess, ProcessReport, TopologyState } from "./model.ts";
import { processPlan } from "./plan.ts";

/** A new version counts as healthy once every one of its processes has run this long. */
export const HEALTHY_AFTER_MS = 1_000;

export interface DesiredInput {
  state: TopologyState;
  deployments: Map<string, Deployment>;
  /** What live agents report of this topology's processes. */
  reported: ProcessReport[];
}

export interface DesiredResult {
  /** Scheduler entries: each is placed whole or not at all. The first is the topology's own name. */
  entries: Array<{ name: string; processes: PlannedProcess[]; whole?: boolean }>;
  /** The state to write when a stop or reload moved on; null when nothing changed. */
  next: TopologyState | null;
}

/**
 * What should run for one topology, with the ordering rules of stop and reload (DESIGN.md §9):
 *
 * - running: the plan of `version` (with any live `scale` applied).
 * - stopped: the topology process goes first, so it stops reading and drains while its tasks
 *   are still there; its tasks go once no agent reports the topology process any more.
 * - reload, starting: the new version is placed beside the old one as its own entry (if it
 *   does not fit, the old one keeps running and the reload waits); once every new process
 *   has run HEALTHY_AFTER_MS, the phase becomes draining.
 * - reload, draining: the new version runs; the old one retires as in a stop. When nothing of
 *   the old version is reported, `version` becomes the new one and the reload is over.
 */
export function desiredFor(input: DesiredInput): DesiredResult {
  const { state } = input;
  const plan = (version: string) => {
    const d = input.deployments.get(version);
    return d ? processPlan(d, state.workers) : [];
  };
  const active = input.reported.filter((p) => p.state !== "stopped" && p.state !== "exited");
  const remains = (version: string) => active.filter((p) => p.version === version);
  /** The tasks of a retiring version, as long as its topology process still runs. */
  const retiring = (version: string) => {
    const topologyLeft = remains(version).some((p) => p.kind === "topology");
    return topologyLeft ? plan(version).filter((p) => p.kind === "task") : [];
  };
  const entries: DesiredResult["entries"] = [];
  const r = state.reload;

  if (state.desired === "stopped") {
    const versions = r ? [r.from, r.to] : [state.version];
    for (const v of versions) {
      const tasks = retiring(v);
      if (tasks.length) entries.push({ name: retiringName(state.name, v), processes: tasks });
    }
    const done = r !== undefined && versions.every((v) => remains(v).length === 0);
    return { entries, next: done ? { ...state, version: r.to, reload: undefined } : null };
  }

  if (!r) return { entries: [{ name: state.name, processes: plan(state.version) }], next: null };

  if (r.phase === "starting") {
    const fresh = plan(r.to);
    entries.push({ name: state.name, processes: plan(r.from) }, { name: reloadName(state.name, r.to), processes: fresh, whole: true });
    const healthy = fresh.length > 0 && fresh.every((p) => active.some((q) => q.id === p.id && q.version === p.version && q.state === "running" && (q.uptime_ms ?? 0) >= HEALTHY_AFTER_MS));
    return { entries, next: healthy ? { ...state, reload: { ...r, phase: "draining" } } : null };
  }

  entries.push({ name: state.name, processes: plan(r.to) });
  const tasks = retiring(r.from);
  if (tasks.length) entries.push({ name: retiringName(state.name, r.from), processes: tasks });
  const done = remains(r.from).length === 0;
  return { entries, next: done ? { ...state, version: r.to, reload: undefined } : null };
}

/** The scheduler entry of a reload's new version, so its pending reason can be told apart. */
export function reloadName(topology: string, version: string): string {
  return `${topology}@${version}`;
}

function retiringName(topology: string, version: string): string {
  return `${topology}@${version}~retiring`;
}
