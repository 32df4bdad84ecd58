import type { AgentProcessesDoc, AgentRecord, PlannedProcess, ProcessReport } from "../../core/cluster/model.ts";
import type { InstanceStatus } from "../supervise/instance.ts";

/** `tempest:agent-procs:<name>`: every supervised process as the supervisor sees it. */
export function processesDoc(agent: string, generation: number, planned: Map<string, PlannedProcess>, status: InstanceStatus[], problems: Array<{ id: string; reason: string }>, now: number): AgentProcessesDoc {
  const processes: ProcessReport[] = [];
  for (const s of status) {
    const p = planned.get(s.name);
    if (!p) continue;
    processes.push({
      id: p.id, kind: p.kind, topology: p.topology, ...(p.task !== undefined ? { task: p.task } : {}), instance: p.instance, version: p.version,
      state: s.state, pid: s.pid, restarts: s.restarts, last_exit: s.last_exit, uptime_ms: s.uptime_ms, reason: s.reason,
    });
  }
  return { agent, generation, at: now, processes, ...(problems.length ? { problems } : {}) };
}

export function agentRecord(o: { name: string; advertise: string; slots: number; used: number; version: string; startedAt: number; now: number }): AgentRecord {
  return { name: o.name, host: o.advertise, slots: o.slots, used: o.used, version: o.version, pid: process.pid, started_at: o.startedAt, heartbeat_at: o.now };
}
