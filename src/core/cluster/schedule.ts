import type { PendingTopology, PlannedProcess } from "./model.ts";

export interface ScheduleInput {
  /** Topologies that should run, each with its whole process plan (core/cluster/plan.ts). */
  topologies: Array<{ name: string; processes: PlannedProcess[] }>;
  /** Agents whose heartbeat is alive, with their slots. */
  agents: Array<{ name: string; slots: number }>;
  /** What each agent was last assigned (agents that died may appear: their processes move). */
  current: Record<string, PlannedProcess[]>;
}

export interface ScheduleResult {
  /** Every live agent, with the processes it should run (possibly none). */
  assignments: Record<string, PlannedProcess[]>;
  pending: PendingTopology[];
}

/**
 * Maps desired topologies onto live agents (DESIGN.md §9). Pure: the director calls it on
 * every change and writes what it returns.
 *
 * Rules, in order:
 * 1. A process stays where it runs when its agent is alive and still has the slot for it, and
 *    it is the same process (id, version, executable): a schedule never moves healthy work.
 * 2. Processes of dead agents, new topologies and new versions are placed; each goes to the
 *    live agent running the fewest instances of its task (spread), then the one with the most
 *    free slots, then by name: deterministic.
 * 3. One process takes one slot; an agent never gets more than its slots.
 * 4. A topology is placed whole or not at all: one that does not fit is `pending` with the
 *    reason, and none of its processes run (a DAG missing a task cannot make progress).
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  const agents = [...input.agents].sort((a, b) => a.name.localeCompare(b.name));
  const live = new Set(agents.map((a) => a.name));
  const assignments: Record<string, PlannedProcess[]> = Object.fromEntries(agents.map((a) => [a.name, []]));
  const slots = new Map(agents.map((a) => [a.name, Math.max(0, Math.floor(a.slots))]));
  const pending: PendingTopology[] = [];

  // Where each wanted process runs now, on a live agent.
  const runningOn = new Map<string, string>();
  for (const [agent, procs] of Object.entries(input.current)) {
    if (!live.has(agent)) continue;
    for (const p of procs) runningOn.set(key(p), agent);
  }

  const topologies = [...input.topologies].sort((a, b) => a.name.localeCompare(b.name));
  const used = (agent: string) => assignments[agent]?.length ?? 0;
  const free = (agent: string) => (slots.get(agent) ?? 0) - used(agent);
  const place = (agent: string, p: PlannedProcess) => assignments[agent]!.push(p);
  const unplace = (procs: Set<PlannedProcess>) => {
    for (const a of agents) assignments[a.name] = assignments[a.name]!.filter((p) => !procs.has(p));
  };

  // Rule 1 first, for every topology: what runs keeps its slot before anything new is placed.
  const sticky = new Map<string, Set<PlannedProcess>>();
  for (const t of topologies) {
    const kept = new Set<PlannedProcess>();
    for (const p of t.processes) {
      const at = runningOn.get(key(p));
      if (at !== undefined && free(at) > 0) {
        place(at, p);
        kept.add(p);
      }
    }
    sticky.set(t.name, kept);
  }
  // Rules 2–4, topology by topology.
  for (const t of topologies) {
    const kept = sticky.get(t.name)!;
    const placed = new Set(kept);
    let fits = true;
    for (const p of t.processes) {
      if (kept.has(p)) continue;
      const peers = (agent: string) => assignments[agent]!.filter((q) => q.topology === p.topology && q.kind === p.kind && q.task === p.task).length;
      const candidates = agents.filter((a) => free(a.name) > 0);
      candidates.sort((a, b) => peers(a.name) - peers(b.name) || free(b.name) - free(a.name) || a.name.localeCompare(b.name));
      const best = candidates[0];
      if (!best) {
        fits = false;
        break;
      }
      place(best.name, p);
      placed.add(p);
    }
    if (!fits) {
      unplace(placed);
      pending.push({ topology: t.name, reason: notFitting(t.processes.length, agents, free) });
    }
  }
  return { assignments, pending };
}

/** Same id, version and content: the very process that runs now. */
function key(p: PlannedProcess): string {
  return `${p.id}\u0000${p.version}\u0000${p.sha256}`;
}

function notFitting(needed: number, agents: Array<{ name: string }>, free: (agent: string) => number): string {
  if (agents.length === 0) return `needs ${needed} slot${needed === 1 ? "" : "s"}, and no agent is alive`;
  const total = agents.reduce((n, a) => n + Math.max(0, free(a.name)), 0);
  return `needs ${needed} slot${needed === 1 ? "" : "s"}, ${total} free on ${agents.length} live agent${agents.length === 1 ? "" : "s"} — add agents or slots (--slots), or lower workers`;
}
