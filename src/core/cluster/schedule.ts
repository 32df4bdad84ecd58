import type { PendingTopology, PlannedProcess } from "./model.ts";

export interface ScheduleInput {
  /**
   * Topologies that should run, each with its whole process plan (core/cluster/plan.ts).
   * `whole`: place all of it or none (a reload's new version must not start half of itself).
   */
  topologies: Array<{ name: string; processes: PlannedProcess[]; whole?: boolean }>;
  /** Agents whose heartbeat is alive, with their slots. */
  agents: Array<{ name: string; slots: number }>;
  /** What each agent was last assigned (agents that died may appear: their processes move). */
  current: Record<string, PlannedProcess[]>;
}

export interface ScheduleResult {
  /** Every live agent, with the processes it should run (possibly none). */
  assignments: Record<string, PlannedProcess[]>;
  /** Topologies of which nothing runs, with the reason. */
  pending: PendingTopology[];
  /** Topologies that run with fewer instances than planned, with the reason. */
  degraded: PendingTopology[];
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
 * 4. A topology runs only with its essential processes — the topology service and instance 0
 *    of every task — since a DAG missing a task cannot make progress. If they do not fit, the
 *    topology is `pending` with the reason and none of it runs (its extra instances give up
 *    their slots first). Extra instances that do not fit are left out and the topology is
 *    `degraded`, with the reason: losing a host slows a topology down, it does not stop it.
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  const agents = [...input.agents].sort((a, b) => a.name.localeCompare(b.name));
  const live = new Set(agents.map((a) => a.name));
  const assignments: Record<string, PlannedProcess[]> = Object.fromEntries(agents.map((a) => [a.name, []]));
  const slots = new Map(agents.map((a) => [a.name, Math.max(0, Math.floor(a.slots))]));
  const pending: PendingTopology[] = [];
  const degraded: PendingTopology[] = [];

  // Where each wanted process runs now, on a live agent.
  const runningOn = new Map<string, string>();
  for (const [agent, procs] of Object.entries(input.current)) {
    if (!live.has(agent)) continue;
    for (const p of procs) runningOn.set(key(p), agent);
  }

  const topologies = [...input.topologies].sort((a, b) => a.name.localeCompare(b.name));
  const free = (agent: string) => (slots.get(agent) ?? 0) - (assignments[agent]?.length ?? 0);
  const where = new Map<PlannedProcess, string>();
  const place = (agent: string, p: PlannedProcess) => {
    assignments[agent]!.push(p);
    where.set(p, agent);
  };
  const unplace = (p: PlannedProcess) => {
    const agent = where.get(p);
    if (agent === undefined) return;
    assignments[agent] = assignments[agent]!.filter((q) => q !== p);
    where.delete(p);
  };
  /** The best live agent for a new process (rule 2), or none with a free slot. */
  const best = (p: PlannedProcess): string | undefined => {
    const peers = (agent: string) => assignments[agent]!.filter((q) => q.topology === p.topology && q.kind === p.kind && q.task === p.task).length;
    const candidates = agents.filter((a) => free(a.name) > 0);
    candidates.sort((a, b) => peers(a.name) - peers(b.name) || free(b.name) - free(a.name) || a.name.localeCompare(b.name));
    return candidates[0]?.name;
  };

  // Rule 1 first, for every topology: what runs keeps its slot before anything new is placed.
  for (const t of topologies) {
    for (const p of t.processes) {
      const at = runningOn.get(key(p));
      if (at !== undefined && free(at) > 0) place(at, p);
    }
  }
  // Rules 2–4. Every process takes one slot on any agent, so whether a topology's essential
  // processes fit is a count. First the essentials of every topology, then the extras: one
  // topology's extra instances never take the slots another needs to run at all.
  const totalFree = () => agents.reduce((n, a) => n + Math.max(0, free(a.name)), 0);
  const must = (t: ScheduleInput["topologies"][number], p: PlannedProcess) => t.whole === true || isEssential(p);
  const running: typeof topologies = [];
  for (const t of topologies) {
    const short = () => t.processes.filter((p) => must(t, p) && !where.has(p)).length;
    // Make room from this topology's own extra instances first.
    if (short() > totalFree()) for (const p of t.processes) if (!must(t, p)) unplace(p);
    if (short() > totalFree()) {
      const needed = short();
      for (const p of t.processes) unplace(p);
      pending.push({ topology: t.name, reason: notFitting(needed, agents, free) });
      continue;
    }
    for (const p of t.processes) if (must(t, p) && !where.has(p)) place(best(p)!, p);
    running.push(t);
  }
  for (const t of running) {
    let missing = 0;
    for (const p of t.processes) {
      if (where.has(p)) continue;
      const agent = best(p);
      if (agent === undefined) missing++;
      else place(agent, p);
    }
    if (missing) degraded.push({ topology: t.name, reason: `${missing} of ${t.processes.length} processes not placed: no free slot on ${agents.length} live agent${agents.length === 1 ? "" : "s"} — add agents or slots (--slots), or lower workers` });
  }
  return { assignments, pending, degraded };
}

/** The topology service and instance 0 of each task: without them the DAG cannot run. */
function isEssential(p: PlannedProcess): boolean {
  return p.kind === "topology" || p.instance === 0;
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
