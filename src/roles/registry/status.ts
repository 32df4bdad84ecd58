import type { Redis } from "ioredis";
import { createKeys } from "../../core/registry/keys.ts";
import { scanAll } from "../redis/scan.ts";
import { Histogram, type HistogramSnapshot } from "../../core/stats/histogram.ts";
import type { TopologySummary } from "../topology/summary.ts";
import type { ServiceRecord } from "./registry.ts";

export interface ServiceStatus extends ServiceRecord {
  uptime_s: number;
  heartbeat_age_s: number;
}

export interface TopologyStatus {
  topology: string;
  instances: Array<{ id: string; at: number; stats: TopologySummary }>;
  /** Sums over the instances. */
  source: { type: string; read: number; pending: number; acked: number; dead_lettered: number; lag: number | null };
  /** Roots completed and retries, summed. */
  completed: number;
  retried: number;
  tasks: Record<string, { handled: number; errors: number; inflight: number; queued: number; p50_ms: number; p99_ms: number }>;
  /** The newest failures of every instance, newest last. */
  recent_errors: Array<NonNullable<TopologySummary["recent_errors"]>[number] & { agent?: string }>;
  /** Every instance's histograms merged (ms): complete latency and each task's handle latency. */
  histograms: { complete: HistogramSnapshot; tasks: Record<string, HistogramSnapshot> };
}

/** A snapshot older than this comes from an instance that died without cleaning up. */
export const STALE_STATS_MS = 30_000;

export interface ClusterStatus {
  services: ServiceStatus[];
  topologies: TopologyStatus[];
}

/** Reads every registered service and every stats snapshot (DESIGN.md §7); no director needed. */
export async function readStatus(redis: Redis, now = Date.now()): Promise<ClusterStatus> {
  const keys = createKeys();
  const serviceKeys = await scanAll(redis, keys.servicePattern());
  const values = serviceKeys.length ? await redis.mget(...serviceKeys) : [];
  const services: ServiceStatus[] = [];
  for (const v of values) {
    if (!v) continue; // expired between SCAN and MGET
    try {
      const r = JSON.parse(v) as ServiceRecord;
      services.push({ ...r, uptime_s: round((now - r.started_at) / 1000), heartbeat_age_s: round((now - r.heartbeat_at) / 1000) });
    } catch {
      // not ours
    }
  }
  services.sort((a, b) => a.topology.localeCompare(b.topology) || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));

  const topologies: TopologyStatus[] = [];
  for (const statsKey of (await scanAll(redis, keys.statsPattern())).sort()) {
    const hash = await redis.hgetall(statsKey);
    const instances = Object.entries(hash).flatMap(([id, json]) => {
      try {
        const { at, stats } = JSON.parse(json) as { at: number; stats: TopologySummary };
        return now - at > STALE_STATS_MS ? [] : [{ id, at, stats }];
      } catch {
        return [];
      }
    });
    if (instances.length === 0) continue;
    topologies.push(aggregate(instances));
  }
  return { services, topologies };
}

function aggregate(instances: TopologyStatus["instances"]): TopologyStatus {
  const first = instances[0]!.stats;
  const out: TopologyStatus = {
    topology: first.topology,
    instances,
    source: { type: first.source, read: 0, pending: 0, acked: 0, dead_lettered: 0, lag: null },
    completed: 0,
    retried: 0,
    tasks: {},
    histograms: { complete: new Histogram().snapshot(), tasks: {} },
    recent_errors: [],
  };
  const complete = new Histogram();
  const handle = new Map<string, Histogram>();
  for (const { stats } of instances) {
    out.source.read += stats.read;
    out.source.pending += stats.inflight;
    out.source.acked += stats.completed + stats.dead_lettered;
    out.source.dead_lettered += stats.dead_lettered;
    // Every consumer of one group sees the same lag: the freshest figure stands for all.
    if (stats.lag !== undefined) out.source.lag = stats.lag;
    out.completed += stats.completed;
    out.retried += stats.retried;
    for (const [name, t] of Object.entries(stats.tasks)) {
      const acc = (out.tasks[name] ??= { handled: 0, errors: 0, inflight: 0, queued: 0, p50_ms: 0, p99_ms: 0 });
      acc.handled += t.handled;
      acc.errors += t.errors;
      acc.inflight += t.inflight + t.queued;
      acc.queued += t.queued;
      // Quantiles do not add up; the worst instance is what an operator wants to see…
      acc.p50_ms = Math.max(acc.p50_ms, t.p50_ms);
      acc.p99_ms = Math.max(acc.p99_ms, t.p99_ms);
    }
    out.recent_errors.push(...(stats.recent_errors ?? []));
    if (stats.histograms) {
      complete.merge(stats.histograms.complete);
      for (const [name, h] of Object.entries(stats.histograms.tasks)) {
        const acc = handle.get(name) ?? new Histogram();
        acc.merge(h);
        handle.set(name, acc);
      }
    }
  }
  // …unless the histograms came along: then the quantiles are those of all instances together.
  for (const [name, h] of handle) {
    const t = out.tasks[name];
    if (t && h.count) {
      t.p50_ms = round2(h.quantile(0.5));
      t.p99_ms = round2(h.quantile(0.99));
    }
  }
  out.recent_errors = out.recent_errors.sort((a, b) => a.at - b.at).slice(-20);
  out.histograms = { complete: complete.snapshot(), tasks: Object.fromEntries([...handle].map(([n, h]) => [n, h.snapshot()])) };
  return out;
}

export function formatStatus(s: ClusterStatus, redisShown: string): string {
  const lines: string[] = [];
  if (s.services.length === 0 && s.topologies.length === 0) return `no Tempest services registered in Redis at ${redisShown}`;
  lines.push(`services (${s.services.length}) in Redis at ${redisShown}:`);
  const rows = s.services.map((v) => ({
    v,
    name: v.kind === "task" ? `${v.task}#${v.instance}${v.tasks ? ` (+${v.tasks.filter((t) => t !== v.task).join(",")})` : ""}` : "-",
    addr: v.port ? `${v.host}:${v.port}` : v.host,
  }));
  // Each text column as wide as its longest value (a fused worker's name is long), two spaces apart.
  const width = (header: string, values: string[], least: number) => Math.max(least, header.length + 2, ...values.map((x) => x.length + 2));
  const wTopology = width("topology", rows.map((r) => r.v.topology), 14);
  const wName = width("name", rows.map((r) => r.name), 16);
  const wAddr = width("host:port", rows.map((r) => r.addr), 24);
  lines.push(`  ${"kind".padEnd(9)}${"topology".padEnd(wTopology)}${"name".padEnd(wName)}${"host:port".padEnd(wAddr)}${"pid".padStart(8)}${"uptime".padStart(10)}${"heartbeat".padStart(12)}`);
  for (const { v, name, addr } of rows) {
    lines.push(`  ${v.kind.padEnd(9)}${v.topology.padEnd(wTopology)}${name.padEnd(wName)}${addr.padEnd(wAddr)}${String(v.pid).padStart(8)}${`${v.uptime_s.toFixed(0)}s`.padStart(10)}${`${v.heartbeat_age_s.toFixed(1)}s ago`.padStart(12)}`);
  }
  for (const t of s.topologies) {
    lines.push("");
    lines.push(`topology ${t.topology} (${t.instances.length} instance${t.instances.length === 1 ? "" : "s"}): source ${t.source.type} read ${t.source.read}, pending ${t.source.pending}, acked ${t.source.acked}, dead-lettered ${t.source.dead_lettered}`);
    lines.push(`  ${"task".padEnd(16)}${"handled".padStart(10)}${"errors".padStart(8)}${"in-flight".padStart(11)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}`);
    for (const [name, x] of Object.entries(t.tasks)) {
      lines.push(`  ${name.padEnd(16)}${String(x.handled).padStart(10)}${String(x.errors).padStart(8)}${String(x.inflight).padStart(11)}${x.p50_ms.toFixed(2).padStart(9)}${x.p99_ms.toFixed(2).padStart(9)}`);
    }
  }
  return lines.join("\n");
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
