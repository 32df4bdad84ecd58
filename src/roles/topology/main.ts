import { renameSync, writeFileSync } from "node:fs";
import type { Topology } from "../../core/project/model.ts";
import { createLogger } from "../log.ts";
import { ORPHAN_EXIT_MS, watchParent } from "../parent-watch.ts";
import { onStopSignal } from "../signals.ts";
import { createSource } from "../sources/index.ts";
import { startTopology, type TopologyHandle } from "./service.ts";
import { startStatsd } from "./statsd.ts";
import { RUN_ANNOUNCE_ENV, RUN_SUMMARY_ENV, formatSummary } from "./summary.ts";
import { createKeys } from "../../core/registry/keys.ts";
import { register, registryUrl } from "../registry/registry.ts";
import { VERSION } from "../../version.ts";

export interface TopologyRoleOptions {
  topology: Topology;
  host?: string;
  port?: number;
  summaryJson?: string;
}

/**
 * The whole life of a topology process: source, service, signals, orphan watch, summary.
 * Shared by `tempest topology` and the executables `tempest build` makes.
 */
/** Resolves with the exit code: 0 after a clean stop, 130 after a second stop signal, 1 when orphaned. */
export async function runTopologyRole(opts: TopologyRoleOptions): Promise<number> {
  const { topology } = opts;
  const log = createLogger("topology");
  // Signals are taken from the very start: one that comes while the service is still starting
  // (even after it said "listening on") stops it as soon as it can be stopped.
  let stopNow: ((sig: string) => void) | null = null;
  let early: string | null = null;
  const { forced } = onStopSignal((sig) => (stopNow ? stopNow(sig) : (early = sig)));
  const source = await createSource(topology, log);
  let handleRef: TopologyHandle | undefined;
  const statsd = await startStatsd({ topology: topology.name, stats: topology.runtime.stats, summary: () => handleRef?.summary(), log });
  const handle = await startTopology({
    topology,
    source,
    host: opts.host ?? topology.runtime.host,
    port: opts.port ?? topology.runtime.port,
    log,
    token: process.env.TEMPEST_TOKEN || undefined,
    onLatency: statsd ? (task, ms) => statsd.latency(task, ms) : undefined,
  });
  handleRef = handle;
  stopNow = (sig) => void handle.stop(sig);
  if (early) stopNow(early);
  const announce = process.env[RUN_ANNOUNCE_ENV];
  if (announce) {
    // Written whole, then renamed: the reader never sees half a file.
    writeFileSync(`${announce}.tmp`, JSON.stringify({ host: handle.host, port: handle.port }));
    renameSync(`${announce}.tmp`, announce);
  }
  const uri = registryUrl(topology);
  const registration = uri
    ? await register({
        uri,
        record: { kind: "topology", id: createKeys().topologyId(topology.name, process.env.TEMPEST_ADVERTISE_HOST || handle.host, handle.port), topology: topology.name, port: handle.port },
        log,
        version: VERSION,
        stats: () => handle.summary(),
      })
    : undefined;
  // `tempest run` when a task can never run again: waiting for what needs it would only dead-letter it.
  process.on("SIGUSR2", () => void handle.stop("SIGUSR2", { drain: false }));
  const orphaned = new Promise<number>((resolve) =>
    watchParent(() => {
      void handle.stop("tempest run went away");
      setTimeout(() => resolve(1), ORPHAN_EXIT_MS);
    }));
  const outcome = await Promise.race([handle.finished, forced, orphaned]);
  if (typeof outcome === "number") return outcome;
  const summary = outcome;
  await registration?.stop();
  await statsd?.close();
  if (opts.summaryJson) writeFileSync(opts.summaryJson, JSON.stringify(summary));
  // `tempest run --strict` reads the run's outcome from here (structured, not from a log line).
  if (process.env[RUN_SUMMARY_ENV]) writeFileSync(process.env[RUN_SUMMARY_ENV] as string, JSON.stringify(summary));
  log.info(formatSummary(summary).split("\n")[0]);
  return 0;
}
