import { TempestError } from "../core/errors.ts";
import { formatTopologyLine } from "../roles/client/format.ts";
import type { TopologyView } from "../roles/director/views.ts";
import { defineTempestCommand } from "./_command.ts";
import { directorArgs, directorClient } from "./_director.ts";

const SCALE_WAIT_MS = 60_000;

export default defineTempestCommand({
  meta: { name: "scale", description: "Change one task's instance count live; no other process restarts" },
  args: {
    topology: { type: "positional", required: true, description: "the topology" },
    setting: { type: "positional", required: true, description: "TASK=N, e.g. B=3", valueHint: "TASK=N" },
    wait: { type: "boolean", default: true, description: "return at once instead of waiting until N instances run" },
    ...directorArgs,
  },
  async run({ args }) {
    const m = /^([^=]+)=(\d+)$/.exec(args.setting);
    if (!m) throw new TempestError("E_USAGE", `${args.setting} is not TASK=N`, { hint: `e.g. tempest scale ${args.topology} B=3` });
    const task = m[1]!;
    const workers = Number(m[2]);
    const client = directorClient(args.director);
    const path = `/api/v1/topologies/${encodeURIComponent(args.topology)}`;
    let view = await client.json<TopologyView>("POST", `${path}/scale`, { task, workers });
    // A task inside a fused worker runs in its worker's processes, named after the worker's first task.
    const worker = view.tasks.find((t) => t.name === task)?.worker ?? task;
    const running = (v: TopologyView) => v.processes.filter((p) => p.task === worker && p.kind === "task" && p.state === "running" && p.assigned).length;
    const extra = (v: TopologyView) => v.processes.filter((p) => p.task === worker && p.kind === "task" && !p.assigned).length;
    const deadline = Date.now() + SCALE_WAIT_MS;
    while (args.wait && view.desired === "running" && (running(view) !== workers || extra(view) > 0) && Date.now() < deadline) {
      if (view.reason && /slot|agent is alive/.test(view.reason) && (view.status === "pending" || running(view) < workers)) break;
      await Bun.sleep(250);
      view = await client.json<TopologyView>("GET", path);
    }
    if (args.wait && view.desired === "running" && running(view) !== workers) {
      throw new TempestError("E_RUNTIME", `${args.topology} ${task}: ${running(view)} of ${workers} instances running${view.reason ? ` (${view.reason})` : ""}`, { exitCode: 1, hint: "it goes on by itself when there is room; see `tempest status`" });
    }
    const hosted = view.tasks.filter((t) => t.worker === worker).map((t) => t.name);
    console.log(`${args.topology} ${task}: ${workers} instance${workers === 1 ? "" : "s"}${hosted.length > 1 ? ` (one worker hosts ${hosted.join(", ")}: they scale together)` : ""}`);
    console.log(formatTopologyLine(view));
  },
});
