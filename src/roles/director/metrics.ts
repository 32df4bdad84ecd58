import { Histogram as Hist } from "../../core/stats/histogram.ts";
import type { HistogramSnapshot } from "../../core/stats/histogram.ts";
import type { ClusterView } from "./views.ts";
import type { ClusterStatus } from "../registry/status.ts";

/** Bucket bounds in seconds for every latency histogram (Prometheus's naming guide: base units). */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Labels = Record<string, string>;
interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}
interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  values: Sample[];
}

/**
 * Renders the cluster as Prometheus text with prom-client's registry (DESIGN.md §12): counters
 * end in `_total`, latencies are histograms in seconds (aggregatable across instances), labels
 * are topology, task, instance and agent. The figures are what every topology process reports
 * through Redis and every agent about its processes: nothing is scraped one process at a time.
 */
export async function renderMetrics(view: ClusterView, stats: ClusterStatus): Promise<{ text: string; contentType: string }> {
  const { Registry } = await import("prom-client");
  const registry = new Registry();
  const families: Family[] = [];
  const family = (name: string, type: Family["type"], help: string): Family => {
    const f = { name, type, help, values: [] };
    families.push(f);
    return f;
  };

  const read = family("tempest_source_read_total", "counter", "Messages read from the source");
  const acked = family("tempest_source_acked_total", "counter", "Messages acked at the source (completed or dead-lettered)");
  const dead = family("tempest_source_dead_lettered_total", "counter", "Messages written to the dead-letter destination");
  const pending = family("tempest_source_pending", "gauge", "Messages read and not acked yet (in flight)");
  const lag = family("tempest_source_lag", "gauge", "Messages at the source not read yet (a stream group's lag)");
  const completed = family("tempest_topology_completed_total", "counter", "Root messages completed through the whole DAG");
  const retried = family("tempest_topology_retried_total", "counter", "Root messages retried");
  const instances = family("tempest_topology_instances", "gauge", "Topology processes reporting stats");
  const complete = family("tempest_topology_complete_seconds", "histogram", "Time from read to ack of a root message");
  const handled = family("tempest_task_handled_total", "counter", "Messages handled by a task (all its instances)");
  const errors = family("tempest_task_errors_total", "counter", "Handler calls of a task that failed");
  const inflight = family("tempest_task_inflight", "gauge", "Deliveries of a task in flight or queued");
  const handle = family("tempest_task_handle_seconds", "histogram", "Handler latency of a task");

  for (const t of stats.topologies) {
    const l = { topology: t.topology };
    read.values.push({ value: t.source.read, labels: l });
    acked.values.push({ value: t.source.acked, labels: l });
    dead.values.push({ value: t.source.dead_lettered, labels: l });
    pending.values.push({ value: t.source.pending, labels: l });
    if (t.source.lag !== null) lag.values.push({ value: t.source.lag, labels: l });
    completed.values.push({ value: t.completed, labels: l });
    retried.values.push({ value: t.retried, labels: l });
    instances.values.push({ value: t.instances.length, labels: l });
    histogram(complete, t.histograms.complete, l);
    for (const [task, x] of Object.entries(t.tasks)) {
      const tl = { topology: t.topology, task };
      handled.values.push({ value: x.handled, labels: tl });
      errors.values.push({ value: x.errors, labels: tl });
      inflight.values.push({ value: x.inflight, labels: tl });
      const h = t.histograms.tasks[task];
      if (h) histogram(handle, h, tl);
    }
  }

  const up = family("tempest_agent_up", "gauge", "1 while the agent's heartbeat is alive");
  const slots = family("tempest_agent_slots", "gauge", "Slots an agent offers");
  const used = family("tempest_agent_slots_used", "gauge", "Slots assigned on an agent");
  for (const a of view.agents) {
    up.values.push({ value: a.alive ? 1 : 0, labels: { agent: a.name } });
    slots.values.push({ value: a.slots, labels: { agent: a.name } });
    used.values.push({ value: a.used, labels: { agent: a.name } });
  }
  const procUp = family("tempest_process_up", "gauge", "1 while a process assigned to an agent runs");
  const restarts = family("tempest_process_restarts_total", "counter", "Restarts of a process by its agent");
  const states = family("tempest_agent_processes", "gauge", "Processes on an agent, by state");
  const byState = new Map<string, number>();
  for (const t of view.topologies) {
    for (const p of t.processes) {
      const pl = { topology: t.name, task: p.kind === "topology" ? "" : (p.task ?? ""), instance: String(p.instance), agent: p.agent, kind: p.kind };
      procUp.values.push({ value: p.state === "running" && p.agent_alive ? 1 : 0, labels: pl });
      restarts.values.push({ value: p.restarts, labels: pl });
      const k = `${p.agent}\u0000${p.state}`;
      byState.set(k, (byState.get(k) ?? 0) + 1);
    }
  }
  for (const [k, n] of byState) {
    const [agent, state] = k.split("\u0000") as [string, string];
    states.values.push({ value: n, labels: { agent, state } });
  }

  for (const f of families) {
    registry.registerMetric({ name: f.name, help: f.help, type: f.type, get: async () => f, reset() {}, aggregator: "sum" } as never);
  }
  return { text: await registry.metrics(), contentType: registry.contentType };
}

/** One histogram's `_bucket` (cumulative, `le` in seconds), `_sum` (seconds) and `_count` samples. */
function histogram(f: Family, snap: HistogramSnapshot, labels: Labels): void {
  const h = Hist.from(snap);
  const bounds = [...LATENCY_BUCKETS_S.map((s) => s * 1000), Infinity];
  const counts = h.cumulative(bounds);
  bounds.forEach((b, i) => f.values.push({ metricName: `${f.name}_bucket`, labels: { ...labels, le: b === Infinity ? "+Inf" : String(b / 1000) }, value: counts[i]! }));
  f.values.push({ metricName: `${f.name}_sum`, labels, value: h.sum / 1000 });
  f.values.push({ metricName: `${f.name}_count`, labels, value: h.count });
}
