import { writeFileSync } from "node:fs";
import type { Topology } from "../../core/project/model.ts";
import { createLogger } from "../log.ts";
import { ORPHAN_EXIT_MS, watchParent } from "../parent-watch.ts";
import { onStopSignal } from "../signals.ts";
import { createSource } from "../sources/index.ts";
import { startTopology } from "./service.ts";
import { formatSummary } from "./summary.ts";

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
export async function runTopologyRole(opts: TopologyRoleOptions): Promise<void> {
  const { topology } = opts;
  const log = createLogger("topology");
  const source = await createSource(topology);
  const handle = await startTopology({
    topology,
    source,
    host: opts.host ?? topology.runtime.host,
    port: opts.port ?? topology.runtime.port,
    log,
  });
  onStopSignal((sig) => void handle.stop(sig));
  watchParent(() => {
    void handle.stop("tempest run went away");
    setTimeout(() => process.exit(1), ORPHAN_EXIT_MS).unref();
  });
  const summary = await handle.finished;
  if (opts.summaryJson) writeFileSync(opts.summaryJson, JSON.stringify(summary));
  log.info(formatSummary(summary).split("\n")[0]);
}
