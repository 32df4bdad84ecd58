import { defineTempestCommand } from "../_command.ts";
import { request, socketArgs } from "./_socket.ts";

export default defineTempestCommand({
  meta: { name: "supervise reload", description: "Re-read the config; restart only the processes whose entry changed" },
  args: { ...socketArgs, json: { type: "boolean", description: "print what changed as JSON" } },
  async run({ args }) {
    const res = await request(args, { type: "reload" });
    const r = res.reload ?? { added: [], removed: [], changed: [], unchanged: [] };
    if (args.json) {
      console.log(JSON.stringify(r, null, 2));
      return;
    }
    const parts = (["changed", "added", "removed", "unchanged"] as const).filter((k) => r[k].length).map((k) => `${k}: ${r[k].join(", ")}`);
    console.log(parts.length ? `reloaded; ${parts.join("; ")}` : "reloaded; no processes");
  },
});
