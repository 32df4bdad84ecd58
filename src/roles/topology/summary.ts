import type { PipelineStats } from "../../core/pipeline/index.ts";
import type { Histogram, HistogramSnapshot } from "../../core/stats/histogram.ts";

/** One failure of a root: a task's error (with who threw it) or a timeout, and what became of it. */
export interface RecentError {
  at: number;
  outcome: "retried" | "dead_lettered";
  msg_id: string;
  error: string;
  /** The task and instance whose handler failed; null for a timeout or an undecodable message. */
  task: string | null;
  instance: string | null;
  /** The first frames of the user's own code in the stack (file:line). */
  where?: string;
}

/** A file the topology role also writes its final summary to, when this variable names one. */
export const RUN_SUMMARY_ENV = "TEMPEST_RUN_SUMMARY_FILE";
/** Where a topology started by `tempest run` writes `{ host, port }` once it listens (structured, not a log line). */
export const RUN_ANNOUNCE_ENV = "TEMPEST_RUN_ANNOUNCE_FILE";

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
  /** Entries at the source not read yet, when the source knows (a stream group's lag). */
  lag?: number;
  /** The last failures, newest last (for the dashboard). */
  recent_errors?: RecentError[];
  /** The histograms themselves (ms), so the director can merge instances and export buckets. */
  histograms?: { complete: HistogramSnapshot; tasks: Record<string, HistogramSnapshot> };
}

export function summarize(opts: {
  topology: string;
  source: string;
  read: number;
  deadLetteredAtSource: number;
  stats: PipelineStats;
  latency: Map<string, Histogram>;
  complete?: Histogram;
  lag?: number;
  recentErrors?: RecentError[];
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
    ...(opts.lag !== undefined ? { lag: opts.lag } : {}),
    ...(opts.recentErrors ? { recent_errors: [...opts.recentErrors] } : {}),
    ...(opts.complete ? { histograms: { complete: opts.complete.snapshot(), tasks: Object.fromEntries([...opts.latency].map(([name, h]) => [name, h.snapshot()])) } } : {}),
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
