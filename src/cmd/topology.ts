import { runTopologyRole } from "../roles/topology/main.ts";
import { defineTempestCommand, parsePort, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";
import { findTopology } from "./_topology.ts";

export const topologyRoleArgs = {
  host: { type: "string", description: "address to listen on (default 127.0.0.1); beyond loopback (e.g. 0.0.0.0, for tasks on other machines) it needs TEMPEST_TOKEN, the same in every task", valueHint: "HOST" },
  port: { type: "string", description: "port to listen on; 0 picks a free one (default from Runtime.toml, else 0)", valueHint: "PORT" },
  "summary-json": { type: "string", description: "write the final summary as JSON to FILE", valueHint: "FILE" },
} as const;

export default defineTempestCommand({
  meta: { name: "topology", description: "Role: run the topology service (TCP server, source, pipeline, acks)" },
  args: {
    name: { type: "positional", required: true, description: "the topology to serve" },
    ...projectArgs,
    ...topologyRoleArgs,
  },
  async run({ args, rawArgs }) {
    const port = args.port !== undefined ? parsePort(args.port) : undefined;
    const project = await requireProject({ project: args.project, sets: repeatedFlag(rawArgs, "set"), importTasks: false });
    process.exitCode = await runTopologyRole({ topology: findTopology(project, args.name), host: args.host, port, summaryJson: args["summary-json"] });
  },
});
