import { writeFileSync } from "node:fs";
import { createLogger } from "../roles/log.ts";
import { ORPHAN_EXIT_MS, watchParent } from "../roles/parent-watch.ts";
import { onStopSignal } from "../roles/signals.ts";
import { createSource } from "../roles/sources/index.ts";
import { startTopology } from "../roles/topology/service.ts";
import { formatSummary } from "../roles/topology/summary.ts";
import { defineTempestCommand, parsePort, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";
import { findTopology } from "./_topology.ts";

export default defineTempestCommand({
  meta: { name: "topology", description: "Role: run the topology service (TCP server, source, pipeline, acks)" },
  args: {
    name: { type: "positional", required: true, description: "the topology to serve" },
    ...projectArgs,
    host: { type: "string", description: "address to listen on (default 127.0.0.1)", valueHint: "HOST" },
    port: { type: "string", description: "port to listen on; 0 picks a free one (default from Runtime.toml, else 0)", valueHint: "PORT" },
    "summary-json": { type: "string", description: "write the final summary as JSON to FILE", valueHint: "FILE" },
  },
  async run({ args, rawArgs }) {
    const project = await requireProject({ project: args.project, sets: repeatedFlag(rawArgs, "set"), importTasks: false });
    const topology = findTopology(project, args.name);
    const log = createLogger("topology");
    const source = await createSource(topology);
    const handle = await startTopology({
      topology,
      source,
      host: args.host ?? topology.runtime.host,
      port: args.port !== undefined ? parsePort(args.port) : topology.runtime.port,
      log,
    });
    onStopSignal((sig) => void handle.stop(sig));
    watchParent(() => {
      void handle.stop("tempest run went away");
      setTimeout(() => process.exit(1), ORPHAN_EXIT_MS).unref();
    });
    const summary = await handle.finished;
    if (args["summary-json"]) writeFileSync(args["summary-json"], JSON.stringify(summary));
    log.info(formatSummary(summary).split("\n")[0]);
  },
});
