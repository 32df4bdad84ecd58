import type { PlannedProcess } from "../../core/cluster/model.ts";
import { desiredFor } from "../../core/cluster/desired.ts";
import type { Deployment, TopologyState } from "../../core/cluster/model.ts";
import { schedule } from "../../core/cluster/schedule.ts";
import type { Logger } from "../log.ts";
import type { SchedulerLease } from "./lease.ts";
import type { ClusterStore } from "./store.ts";

export interface SchedulerLoop {
  /** Schedules now (after a deploy, start or stop) instead of at the next tick. */
  poke(): void;
  stop(): Promise<void>;
}

/**
 * While this director holds the lease: every tick (and on a poke) it reads the desired
 * topologies and the live agents, runs the pure scheduler, and writes the assignment documents
 * that changed, each under a new generation, then wakes those agents. Level-triggered: a lost
 * write or wake-up is repaired by the next tick.
 */
/** How long a stop waits for the pass in progress and the lease's release. */
const STOP_WAIT_MS = 2_000;

export function startSchedulerLoop(opts: { store: ClusterStore; lease: SchedulerLease; log: Logger; tickMs: number }): SchedulerLoop {
  const { store, lease, log } = opts;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let wasLeader = false;
  let lastError = "";

  const tick = async () => {
    const leader = await lease.refresh();
    if (leader !== wasLeader) {
      if (leader) log.info(`holding the scheduler lease (${lease.id})`);
      else log.warn(`lost the scheduler lease; ${(await lease.holder()) ?? "nobody"} schedules now`);
      wasLeader = leader;
    }
    if (!leader) return;
    await scheduleOnce(store, lease, log);
  };

  const run = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = tick()
      .then(() => {
        if (lastError) log.info("scheduling works again");
        lastError = "";
      })
      .catch((e: Error) => {
        // Redis away: the connection logs the outage; say what it cost only once.
        if (lastError !== e.message) log.warn(`cannot schedule: ${e.message}; retrying`);
        lastError = e.message;
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  const timer = setInterval(run, opts.tickMs);
  run();
  return {
    poke: run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      // A pass or the release may wait for a Redis that is down: a stop signal must not. The
      // lease then expires by itself, and another director takes over.
      const settled = (async () => {
        await running;
        await lease.release().catch(() => {});
      })();
      const gaveUp = await Promise.race([settled.then(() => false), Bun.sleep(STOP_WAIT_MS).then(() => true)]);
      if (gaveUp) log.warn(`stopping without releasing the scheduler lease: Redis did not answer within ${STOP_WAIT_MS / 1000} s (another director takes over when it expires)`);
    },
  };
}

/** One scheduling pass; returns the new generation, or null when nothing changed. */
export async function scheduleOnce(store: ClusterStore, lease: SchedulerLease, log: Logger): Promise<number | null> {
  const director = lease.id;
  const agents = await store.agents();
  const names = [...new Set([...(await store.knownAgents()).keys(), ...agents.map((a) => a.name)])];
  const current = await store.assignments(names);
  const live = new Set(agents.map((a) => a.name));
  const reports = [...(await store.agentProcesses([...live])).values()].flatMap((doc) => doc.processes);
  const wanted: Array<{ name: string; processes: PlannedProcess[]; whole?: boolean }> = [];
  for (const s of await store.topologyStates()) {
    const versions = [...new Set([s.version, s.reload?.from, s.reload?.to].filter((v): v is string => Boolean(v)))];
    const deployments = new Map<string, Deployment>();
    for (const v of versions) {
      const d = await store.deployment(s.name, v);
      if (d) deployments.set(v, d);
    }
    const desired = desiredFor({ state: s, deployments, reported: reports.filter((p) => p.topology === s.name) });
    wanted.push(...desired.entries);
    if (desired.next) {
      // Written only by the lease holder, like the assignments: one director moves a reload on.
      if (await lease.refresh()) {
        await store.putTopologyState({ ...desired.next, changed_at: Date.now() });
        log.info(describeStep(s, desired.next));
      }
    }
  }
  const currentProcesses = Object.fromEntries([...current].map(([agent, doc]) => [agent, doc.processes]));
  const result = schedule({ topologies: wanted, agents: agents.map((a) => ({ name: a.name, slots: a.slots })), current: currentProcesses });

  const changed: Record<string, PlannedProcess[]> = {};
  for (const agent of new Set([...Object.keys(result.assignments), ...current.keys()])) {
    const next = result.assignments[agent] ?? [];
    if (!sameProcesses(current.get(agent)?.processes ?? [], next)) changed[agent] = next;
  }
  const previous = await store.schedule();
  const pendingSame = JSON.stringify(previous?.pending ?? []) === JSON.stringify(result.pending) && JSON.stringify(previous?.degraded ?? []) === JSON.stringify(result.degraded);
  if (Object.keys(changed).length === 0 && pendingSame && previous) return null;

  const generation = await store.writeAssignments(director, changed, { at: Date.now(), director, placements: result.assignments, pending: result.pending, degraded: result.degraded });
  if (generation === null) return null;
  for (const agent of Object.keys(changed)) await store.redis.publish(store.keys.assignmentWake(), agent);
  describe(log, generation, currentProcesses, changed, new Set(agents.map((a) => a.name)));
  for (const p of result.pending) {
    if (!previous?.pending.some((q) => q.topology === p.topology && q.reason === p.reason)) log.warn(`${p.topology} is pending: ${p.reason}`);
  }
  for (const p of result.degraded) {
    if (!previous?.degraded?.some((q) => q.topology === p.topology && q.reason === p.reason)) log.warn(`${p.topology} runs degraded: ${p.reason}`);
  }
  return generation;
}

function describeStep(before: TopologyState, after: TopologyState): string {
  if (after.reload?.phase === "draining" && before.reload?.phase === "starting") return `${after.name}: ${after.reload.to} is healthy; ${after.reload.from} stops reading and drains`;
  if (before.reload && !after.reload) return `${after.name}: ${before.reload.from} has exited; ${after.version} ${after.desired === "running" ? "runs alone" : "is the stopped version"}`;
  return `${after.name}: ${after.version} ${after.desired}`;
}

function sameProcesses(a: PlannedProcess[], b: PlannedProcess[]): boolean {
  const k = (ps: PlannedProcess[]) => ps.map((p) => `${p.id}@${p.version}:${p.sha256}`).sort().join(",");
  return a.length === b.length && k(a) === k(b);
}

/** One log line per agent that changed: what it gains and loses, and why when its agent was lost. */
function describe(log: Logger, generation: number, before: Record<string, PlannedProcess[]>, changed: Record<string, PlannedProcess[]>, live: Set<string>): void {
  const placedBefore = new Map<string, string>();
  for (const [agent, ps] of Object.entries(before)) for (const p of ps) placedBefore.set(p.id, agent);
  for (const [agent, next] of Object.entries(changed)) {
    const had = new Set((before[agent] ?? []).map((p) => p.id));
    const gains = next.filter((p) => !had.has(p.id)).map((p) => {
      const from = placedBefore.get(p.id);
      return from && from !== agent ? `${p.id} (from ${from}${live.has(from) ? "" : ", lost"})` : p.id;
    });
    const keeps = new Set(next.map((p) => p.id));
    const loses = [...had].filter((id) => !keeps.has(id));
    const parts = [gains.length ? `runs ${gains.join(", ")}` : "", loses.length ? `stops ${loses.join(", ")}` : ""].filter(Boolean);
    log.info(`generation ${generation}: ${agent}${live.has(agent) ? "" : " (not alive)"} ${parts.join("; ") || "is updated"}`);
  }
}
