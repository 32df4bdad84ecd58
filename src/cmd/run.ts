import { createLogger } from "../roles/log.ts";
import { runLocal } from "../roles/local/run.ts";
import { createSource } from "../roles/sources/index.ts";
import { defineTempestCommand, parsePort, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";
import { findTopology } from "./_topology.ts";

export default defineTempestCommand({
  meta: { name: "run", description: "Local mode: run a topology and all its tasks on this machine" },
  args: {
    topology: { type: "positional", required: true, description: "the topology to run" },
    ...projectArgs,
    port: { type: "string", description: "the topology's port (default from Runtime.toml, else a free one)", valueHint: "PORT" },
  },
  async run({ args, rawArgs }) {
    const sets = repeatedFlag(rawArgs, "set");
    // Load and import everything first, so a broken module fails here with its file:line.
    const project = await requireProject({ project: args.project, sets });
    const topology = findTopology(project, args.topology);
    await createSource(topology);
    process.exitCode = await runLocal({ project, topology, port: args.port !== undefined ? parsePort(args.port) : undefined, sets, log: createLogger("run") });
  },
});
