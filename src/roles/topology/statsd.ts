import type { TopologyRuntime } from "../../core/project/model.ts";
import type { Logger } from "../log.ts";
import type { TopologySummary } from "./summary.ts";

export interface StatsdPusher {
  /** A latency to send as a timing (sampled): a task's handler call, or a root's complete latency when `task` is null. */
  latency(task: string | null, ms: number): void;
  close(): Promise<void>;
}

/** Timings are sampled: at 20k messages/s a packet per call would cost more than the work. */
const TIMING_SAMPLE_RATE = 0.1;
const FLUSH_MS = 1_000;

/**
 * Pushes a topology's figures to statsd over UDP with hot-shots (DESIGN.md §12, `[stats] statsd`):
 * every second the counters' increments since the last push and the gauges, and a sample of the
 * latencies as timings. Names are `<prefix>.<topology>.source.read`,
 * `<prefix>.<topology>.task.<task>.handled`, `<prefix>.<topology>.task.<task>.handle` (timing), …
 * A statsd that is away costs nothing: UDP, errors are logged once.
 */
export async function startStatsd(opts: { topology: string; stats: TopologyRuntime["stats"]; summary: () => TopologySummary | undefined; log: Logger }): Promise<StatsdPusher | null> {
  const target = opts.stats.statsd;
  if (!target) return null;
  const { StatsD } = await import("hot-shots");
  let saidError = false;
  const client = new StatsD({
    host: target.host,
    port: target.port,
    prefix: `${opts.stats.prefix}.${safe(opts.topology)}.`,
    maxBufferSize: 1400,
    bufferFlushInterval: 200,
    errorHandler: (e) => {
      if (!saidError) opts.log.warn(`statsd at ${target.host}:${target.port}: ${e.message}; figures are dropped until it works`);
      saidError = true;
    },
  });
  opts.log.info(`pushing stats to statsd at ${target.host}:${target.port} as ${opts.stats.prefix}.${safe(opts.topology)}.*`);
  let last = new Map<string, number>();
  const push = () => {
    const s = opts.summary();
    if (!s) return;
    const now = new Map<string, number>([
      ["source.read", s.read],
      ["source.acked", s.completed + s.dead_lettered],
      ["source.dead_lettered", s.dead_lettered],
      ["topology.completed", s.completed],
      ["topology.retried", s.retried],
    ]);
    for (const [task, t] of Object.entries(s.tasks)) {
      now.set(`task.${safe(task)}.handled`, t.handled);
      now.set(`task.${safe(task)}.errors`, t.errors);
    }
    for (const [name, value] of now) {
      // A counter that went down means the process restarted: count from zero again.
      const delta = value - (last.get(name) ?? 0);
      if (delta > 0) client.increment(name, delta);
    }
    last = now;
    client.gauge("source.pending", s.inflight);
    if (s.lag !== undefined) client.gauge("source.lag", s.lag);
    for (const [task, t] of Object.entries(s.tasks)) client.gauge(`task.${safe(task)}.inflight`, t.inflight + t.queued);
  };
  const timer = setInterval(push, FLUSH_MS);
  timer.unref();
  return {
    latency(task, ms) {
      client.timing(task === null ? "topology.complete" : `task.${safe(task)}.handle`, ms, TIMING_SAMPLE_RATE);
    },
    async close() {
      clearInterval(timer);
      push();
      await new Promise<void>((resolve) => client.close(() => resolve()));
    },
  };
}

/** statsd names use `.` as the separator and `:|@` in the protocol: keep names plain. */
function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, "_");
}
