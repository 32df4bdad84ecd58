import type { AgentProcessesDoc, AgentRecord, AssignmentDoc, Deployment, ProcessKind, ScheduleDoc, TopologyState, TopologyStatus } from "../../core/cluster/model.ts";
import type { ExitStatus, Phase } from "../../core/supervise/policy.ts";
import { readStatus, type TopologyStatus as TopologyStats } from "../registry/status.ts";
import { reloadName } from "../../core/cluster/desired.ts";
import { deployedWorkers } from "../../core/cluster/plan.ts";
import type { ClusterStore } from "./store.ts";

/** What `GET /api/v1/agents` and `status --json` show for an agent. */
export interface AgentView {
  name: string;
  host: string | null;
  alive: boolean;
  slots: number;
  used: number;
  version: string | null;
  pid: number | null;
  started_at: number | null;
  heartbeat_age_s: number | null;
  generation: number | null;
}

export interface ProcessView {
  id: string;
  kind: ProcessKind;
  task: string | null;
  instance: number;
  agent: string;
  agent_alive: boolean;
  version: string;
  /** "assigned" until its agent reports it. */
  state: Phase | "assigned";
  pid: number | null;
  restarts: number;
  uptime_ms: number | null;
  last_exit: ExitStatus | null;
  /** Whether the current assignment still wants it (false while an old process stops). */
  assigned: boolean;
}

export interface TopologyView {
  name: string;
  version: string;
  versions: string[];
  desired: TopologyState["desired"];
  status: TopologyStatus;
  /** A rolling reload in progress. */
  reload: TopologyState["reload"] | null;
  /** Instances per task now (a live `scale` over the deployment's `workers`). */
  workers: Record<string, number>;
  reason: string | null;
  graph: string;
  edges: Array<[string, string]>;
  /** `worker`: the task whose processes host this one (itself unless it shares a fused worker). */
  tasks: Array<{ name: string; workers: number; join: string; worker: string }>;
  processes: ProcessView[];
  stats: (Pick<TopologyStats, "source" | "tasks" | "completed" | "retried" | "recent_errors"> & { instances: number }) | null;
}

export interface ClusterView {
  agents: AgentView[];
  topologies: TopologyView[];
  director: { leader: string | null; generation: number | null };
}

/** Reads everything once and derives each view from the same snapshot. */
export async function readCluster(store: ClusterStore, now = Date.now()): Promise<ClusterView> {
  return (await readClusterState(store, now)).view;
}

/** The views and the raw material behind them (merged histograms, agent reports), for /metrics and the dashboard. */
export async function readClusterState(store: ClusterStore, now = Date.now()): Promise<{ view: ClusterView; stats: Awaited<ReturnType<typeof readStatus>> }> {
  const [agents, known, states, schedule, leader] = await Promise.all([store.agents(), store.knownAgents(), store.topologyStates(), store.schedule(), store.redis.get(store.keys.leader())]);
  const names = [...new Set([...known.keys(), ...agents.map((a) => a.name)])].sort();
  const [assignments, reports, stats] = await Promise.all([store.assignments(names), store.agentProcesses(names), readStatus(store.redis, now)]);
  const alive = new Map(agents.map((a) => [a.name, a]));
  const agentViews = names.map((n) => agentView(n, alive.get(n), known.get(n), assignments.get(n), now));
  const topologies: TopologyView[] = [];
  for (const s of states) {
    const d = await store.deployment(s.name, s.version);
    const versions = await store.versions(s.name);
    const processes = processViews(s.name, assignments, reports, alive);
    const fresh = stats.topologies.find((t) => t.topology === s.name);
    const { status, reason } = topologyStatus(s, processes, schedule);
    topologies.push({
      name: s.name,
      version: s.version,
      versions,
      desired: s.desired,
      status,
      reason,
      reload: s.reload ?? null,
      workers: Object.fromEntries((d?.tasks ?? []).map((t) => [t.name, s.workers?.[t.name] ?? t.workers])),
      graph: d?.graph ?? "",
      edges: d?.edges ?? [],
      tasks: d ? taskViews(d) : [],
      processes,
      stats: fresh ? { instances: fresh.instances.length, source: fresh.source, completed: fresh.completed, retried: fresh.retried, tasks: fresh.tasks, recent_errors: fresh.recent_errors } : null,
    });
  }
  return { view: { agents: agentViews, topologies, director: { leader, generation: schedule?.generation ?? null } }, stats };
}

/** The deployment's tasks, each with the worker that hosts it (grouped once for all of them). */
function taskViews(d: Deployment): TopologyView["tasks"] {
  const workers = deployedWorkers(d);
  return d.tasks.map((t) => ({ name: t.name, workers: t.workers, join: t.join, worker: workers.find((u) => u.tasks.includes(t.name))?.leader ?? t.name }));
}

function agentView(name: string, live: AgentRecord | undefined, last: AgentRecord | undefined, doc: AssignmentDoc | undefined, now: number): AgentView {
  const record = live ?? last;
  return {
    name,
    host: record?.host ?? null,
    alive: live !== undefined,
    slots: record?.slots ?? 0,
    used: doc?.processes.length ?? 0,
    version: record?.version ?? null,
    pid: record?.pid ?? null,
    started_at: record?.started_at ?? null,
    heartbeat_age_s: record ? Math.round((now - record.heartbeat_at) / 100) / 10 : null,
    generation: doc?.generation ?? null,
  };
}

/** Assigned processes with what their agents report, plus reported ones no longer assigned (stopping). */
function processViews(topology: string, assignments: Map<string, AssignmentDoc>, reports: Map<string, AgentProcessesDoc>, alive: Map<string, AgentRecord>): ProcessView[] {
  const out: ProcessView[] = [];
  const agents = new Set([...assignments.keys(), ...reports.keys()]);
  for (const agent of [...agents].sort()) {
    const assigned = (assignments.get(agent)?.processes ?? []).filter((p) => p.topology === topology);
    const reported = alive.has(agent) ? (reports.get(agent)?.processes ?? []).filter((p) => p.topology === topology) : [];
    for (const p of assigned) {
      const r = reported.find((x) => x.id === p.id && x.version === p.version);
      out.push({ id: p.id, kind: p.kind, task: p.task ?? null, instance: p.instance, agent, agent_alive: alive.has(agent), version: p.version, state: r?.state ?? "assigned", pid: r?.pid ?? null, restarts: r?.restarts ?? 0, uptime_ms: r?.uptime_ms ?? null, last_exit: r?.last_exit ?? null, assigned: true });
    }
    for (const r of reported) {
      if (assigned.some((p) => p.id === r.id && p.version === r.version)) continue;
      if (r.state === "stopped" || r.state === "exited") continue;
      out.push({ id: r.id, kind: r.kind, task: r.task ?? null, instance: r.instance, agent, agent_alive: true, version: r.version, state: r.state, pid: r.pid, restarts: r.restarts, uptime_ms: r.uptime_ms, last_exit: r.last_exit, assigned: false });
    }
  }
  return out.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "topology" ? -1 : 1) || (a.task ?? "").localeCompare(b.task ?? "", undefined, { numeric: true }) || a.instance - b.instance || Number(b.assigned) - Number(a.assigned));
}

/** stopped | pending | running | stopping, from the desired state, the schedule and the reports. */
export function topologyStatus(s: TopologyState, processes: ProcessView[], schedule: ScheduleDoc | null): { status: TopologyStatus; reason: string | null } {
  const active = processes.filter((p) => p.pid !== null && p.state !== "stopped" && p.state !== "exited");
  if (s.desired === "stopped") {
    // Stopped only once no agent is assigned any of it and none reports one still running.
    const left = processes.filter((p) => p.assigned || active.includes(p)).length;
    return left ? { status: "stopping", reason: `${left} process${left === 1 ? "" : "es"} still stopping` } : { status: "stopped", reason: null };
  }
  const pending = schedule?.pending.find((p) => p.topology === s.name);
  if (pending) return { status: "pending", reason: pending.reason };
  const waiting = s.reload ? schedule?.pending.find((p) => p.topology === reloadName(s.name, s.reload!.to)) : undefined;
  const reloading = s.reload ? `reloading ${s.reload.from} → ${s.reload.to}: ${waiting ? `waits for room (${waiting.reason})` : s.reload.phase === "starting" ? `${s.reload.to} is starting beside ${s.reload.from}` : `${s.reload.from} drains and exits`}` : null;
  const wanted = processes.filter((p) => p.assigned);
  if (wanted.length === 0) return { status: "pending", reason: "waiting for the scheduler to place it" };
  const running = wanted.filter((p) => p.state === "running" && p.agent_alive);
  if (reloading) {
    // Serving all along: the old version runs until the new one is healthy.
    const serving = wanted.filter((p) => p.version === (s.reload!.phase === "starting" ? s.reload!.from : s.reload!.to));
    if (serving.length && serving.every((p) => p.state === "running" && p.agent_alive)) return { status: "running", reason: reloading };
  }
  const degraded = schedule?.degraded?.find((p) => p.topology === s.name);
  if (running.length === wanted.length) return { status: "running", reason: reloading ?? (degraded ? `degraded: ${degraded.reason}` : null) };
  const lost = wanted.filter((p) => !p.agent_alive).length;
  return { status: "pending", reason: lost ? `${lost} process(es) on lost agents; waiting to re-place them` : `starting: ${running.length} of ${wanted.length} processes running` };
}
