import { TempestError } from "../core/errors.ts";
import type { DirectorClient } from "../roles/client/director.ts";
import { formatTopologyLine } from "../roles/client/format.ts";
import type { TopologyView } from "../roles/director/views.ts";
import { defineTempestCommand } from "./_command.ts";
import { directorArgs, directorClient } from "./_director.ts";

const START_WAIT_MS = 60_000;

export default defineTempestCommand({
  meta: { name: "start", description: "Start a deployed topology on the cluster (its newest version)" },
  args: {
    topology: { type: "positional", required: true, description: "the topology" },
    wait: { type: "boolean", default: true, description: "return at once instead of waiting until it runs" },
    ...directorArgs,
  },
  async run({ args }) {
    await startTopology(directorClient(args.director), args.topology, args.wait);
  },
});

/** Asks for the start, then waits until every process runs; a topology that cannot be placed is reported with the reason (exit 1). */
export async function startTopology(client: DirectorClient, name: string, wait: boolean): Promise<void> {
  let view = await client.json<TopologyView>("POST", `/api/v1/topologies/${encodeURIComponent(name)}/start`);
  const deadline = Date.now() + START_WAIT_MS;
  while (wait && view.status !== "running" && Date.now() < deadline) {
    if (view.status === "pending" && view.reason && /slot|agent is alive/.test(view.reason)) break;
    await Bun.sleep(250);
    view = await client.json<TopologyView>("GET", `/api/v1/topologies/${encodeURIComponent(name)}`);
  }
  if (view.status === "pending" && wait) {
    throw new TempestError("E_RUNTIME", `${name} ${view.version} is pending: ${view.reason ?? "not placed yet"}`, {
      exitCode: 1,
      hint: `it starts by itself when there is room; \`tempest stop ${name}\` cancels`,
    });
  }
  console.log(formatTopologyLine(view));
}
