import { TempestError } from "../core/errors.ts";
import { formatTopologyLine } from "../roles/client/format.ts";
import type { TopologyView } from "../roles/director/views.ts";
import { defineTempestCommand } from "./_command.ts";
import { directorArgs, directorClient } from "./_director.ts";

/** A stop drains in-flight work for up to the message timeout; wait a little longer than the default one. */
const STOP_WAIT_MS = 120_000;

export default defineTempestCommand({
  meta: { name: "stop", description: "Stop a topology: it stops reading, drains, and its processes exit; unread entries wait at the source" },
  args: {
    topology: { type: "positional", required: true, description: "the topology" },
    wait: { type: "boolean", default: true, description: "return at once instead of waiting until every process has exited" },
    ...directorArgs,
  },
  async run({ args }) {
    const client = directorClient(args.director);
    const path = `/api/v1/topologies/${encodeURIComponent(args.topology)}`;
    let view = await client.json<TopologyView>("POST", `${path}/stop`);
    const deadline = Date.now() + STOP_WAIT_MS;
    while (args.wait && view.status !== "stopped" && Date.now() < deadline) {
      await Bun.sleep(250);
      view = await client.json<TopologyView>("GET", path);
    }
    if (args.wait && view.status !== "stopped") {
      throw new TempestError("E_RUNTIME", `${args.topology} is still ${view.status} after ${STOP_WAIT_MS / 1000} s: ${view.reason ?? ""}`, { exitCode: 1, hint: "see `tempest status`; a lost agent stops its processes when it comes back" });
    }
    console.log(formatTopologyLine(view));
  },
});
