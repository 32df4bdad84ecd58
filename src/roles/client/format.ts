import type { ClusterView, TopologyView } from "../director/views.ts";

export function formatTopologyLine(t: TopologyView): string {
  const running = t.processes.filter((p) => p.assigned && p.state === "running").length;
  const wanted = t.processes.filter((p) => p.assigned).length;
  const agents = [...new Set(t.processes.filter((p) => p.assigned).map((p) => p.agent))];
  return `${t.name} ${t.version}: ${t.status}${t.reason ? ` (${t.reason})` : ""}${wanted ? ` — ${running}/${wanted} processes running on ${agents.join(", ")}` : ""}`;
}

/** `tempest status` with a director: agents, then each topology with its processes and stats. */
export function formatCluster(c: ClusterView, url: string): string {
  const lines: string[] = [];
  lines.push(`director ${url}${c.director.leader ? ` (scheduler: ${c.director.leader}, generation ${c.director.generation ?? "-"})` : " (no director holds the scheduler lease)"}`);
  lines.push("");
  if (c.agents.length === 0) lines.push("agents: none registered — start one with `tempest agent --director URL`");
  else {
    lines.push(`agents (${c.agents.filter((a) => a.alive).length} alive of ${c.agents.length}):`);
    lines.push(`  ${"name".padEnd(18)}${"host".padEnd(18)}${"state".padEnd(8)}${"slots".padStart(8)}${"heartbeat".padStart(12)}`);
    for (const a of c.agents) {
      lines.push(`  ${a.name.padEnd(18)}${(a.host ?? "-").padEnd(18)}${(a.alive ? "alive" : "lost").padEnd(8)}${`${a.used}/${a.slots}`.padStart(8)}${(a.heartbeat_age_s !== null ? `${a.heartbeat_age_s.toFixed(1)}s ago` : "-").padStart(12)}`);
    }
  }
  if (c.topologies.length === 0) lines.push("", "topologies: none deployed — `tempest deploy --project DIR`");
  for (const t of c.topologies) {
    lines.push("");
    lines.push(`topology ${t.name} ${t.version}: ${t.status}${t.reason ? ` — ${t.reason}` : ""}`);
    if (t.processes.length) {
      lines.push(`  ${"process".padEnd(24)}${"agent".padEnd(18)}${"state".padEnd(10)}${"pid".padStart(8)}${"restarts".padStart(10)}`);
      for (const p of t.processes) {
        const name = p.kind === "topology" ? "topology" : `${p.task}#${p.instance}`;
        lines.push(`  ${`${name}${p.assigned ? "" : " (old)"}`.padEnd(24)}${`${p.agent}${p.agent_alive ? "" : " (lost)"}`.padEnd(18)}${p.state.padEnd(10)}${String(p.pid ?? "-").padStart(8)}${String(p.restarts).padStart(10)}`);
      }
    }
    if (t.stats) {
      const s = t.stats.source;
      lines.push(`  source ${s.type}: read ${s.read}, pending ${s.pending}, acked ${s.acked}, dead-lettered ${s.dead_lettered}`);
      lines.push(`  ${"task".padEnd(16)}${"handled".padStart(10)}${"errors".padStart(8)}${"in-flight".padStart(11)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}`);
      for (const [name, x] of Object.entries(t.stats.tasks)) {
        lines.push(`  ${name.padEnd(16)}${String(x.handled).padStart(10)}${String(x.errors).padStart(8)}${String(x.inflight).padStart(11)}${x.p50_ms.toFixed(2).padStart(9)}${x.p99_ms.toFixed(2).padStart(9)}`);
      }
    }
  }
  return lines.join("\n");
}
