import type { PipelineStats } from "../../core/pipeline/index.ts";
import type { Histogram } from "../../core/stats/histogram.ts";

/** A file the topology role also writes its final summary to, when this variable names one. */
export const RUN_SUMMARY_ENV = "TEMPEST_RUN_SUMMARY_FILE";

/** What `tempest run` prints at the end, and what `stats` answers while running. */
export interface TopologySummary {
  topology: string;
  source: string;
  read: number;
  completed: number;
  retried: number;
  dead_lettered: number;
  inflight: number;
  seconds: number;
  per_second: number;
  sessions: number;
  exhausted: boolean;
  tasks: Record<string, { handled: number; errors: number; queued: number; inflight: number; p50_ms: number; p99_ms: number }>;
}

export function summarize(opts: {
  topology: string;
  source: string;
  read: number;
  deadLetteredAtSource: number;
  stats: PipelineStats;
  latency: Map<string, Histogram>;
  startedAt: number;
  now: number;
  sessions: number;
  exhausted: boolean;
}): TopologySummary {
  const seconds = (opts.now - opts.startedAt) / 1000;
  const finished = opts.stats.roots.completed + opts.stats.roots.deadLettered + opts.deadLetteredAtSource;
  const tasks: TopologySummary["tasks"] = {};
  for (const [name, t] of Object.entries(opts.stats.tasks)) {
    const h = opts.latency.get(name);
    tasks[name] = { handled: t.handled, errors: t.errors, queued: t.queued, inflight: t.inflight, p50_ms: round(h?.quantile(0.5) ?? 0), p99_ms: round(h?.quantile(0.99) ?? 0) };
  }
  return {
    topology: opts.topology,
    source: opts.source,
    read: opts.read,
    completed: opts.stats.roots.completed,
    retried: opts.stats.roots.retried,
    dead_lettered: opts.stats.roots.deadLettered + opts.deadLetteredAtSource,
    inflight: opts.stats.roots.inflight,
    seconds: round(seconds),
    per_second: seconds > 0 ? Math.round(finished / seconds) : 0,
    sessions: opts.sessions,
    exhausted: opts.exhausted,
    tasks,
  };
}

/** The human form: a few lines a person reads at the end of `tempest run`. */
export function formatSummary(s: TopologySummary): string {
  const lines = [
    `${s.topology}: read ${s.read}, completed ${s.completed}, retried ${s.retried}, dead-lettered ${s.dead_lettered} in ${s.seconds.toFixed(2)} s (${s.per_second} messages/s)`,
    `  ${"task".padEnd(16)} ${"handled".padStart(9)} ${"errors".padStart(7)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}`,
  ];
  for (const [name, t] of Object.entries(s.tasks)) {
    lines.push(`  ${name.padEnd(16)} ${String(t.handled).padStart(9)} ${String(t.errors).padStart(7)} ${t.p50_ms.toFixed(2).padStart(8)} ${t.p99_ms.toFixed(2).padStart(8)}`);
  }
  return lines.join("\n");
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
