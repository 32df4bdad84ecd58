import { TempestError } from "../core/errors.ts";
import { formatTopologyLine } from "../roles/client/format.ts";
import type { TopologyView } from "../roles/director/views.ts";
import { defineTempestCommand } from "./_command.ts";
import { directorArgs, directorClient } from "./_director.ts";

/** Start, health and the old version's drain (up to its message timeout) fit in this. */
const RELOAD_WAIT_MS = 180_000;

export default defineTempestCommand({
  meta: { name: "reload", description: "Rolling reload to the newest deployed version: it starts beside the old one, then the old one drains and exits" },
  args: {
    topology: { type: "positional", required: true, description: "the topology" },
    wait: { type: "boolean", default: true, description: "return at once instead of waiting until the old version has exited" },
    ...directorArgs,
  },
  async run({ args }) {
    const client = directorClient(args.director);
    const path = `/api/v1/topologies/${encodeURIComponent(args.topology)}`;
    let view = await client.json<TopologyView>("POST", `${path}/reload`);
    const target = view.reload?.to ?? view.version;
    console.error(`${args.topology}: reloading ${view.reload?.from ?? "?"} → ${target}`);
    let said = "";
    const deadline = Date.now() + RELOAD_WAIT_MS;
    while (args.wait && view.reload && Date.now() < deadline) {
      const step = view.reason ?? "";
      if (step.includes("waits for room")) {
        throw new TempestError("E_RUNTIME", `${args.topology}: ${step}`, { exitCode: 1, hint: `${view.reload.from} keeps running; the reload goes on by itself when there is room` });
      }
      if (step !== said) console.error(`  ${step}`);
      said = step;
      await Bun.sleep(250);
      view = await client.json<TopologyView>("GET", path);
    }
    if (args.wait && view.reload) {
      throw new TempestError("E_RUNTIME", `${args.topology} is still ${view.reason ?? "reloading"} after ${RELOAD_WAIT_MS / 1000} s`, { exitCode: 1, hint: "it goes on by itself; see `tempest status`" });
    }
    console.log(formatTopologyLine(view));
  },
});
