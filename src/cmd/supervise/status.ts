import { defineTempestCommand } from "../_command.ts";
import { formatStatus } from "./_table.ts";
import { request, socketArgs } from "./_socket.ts";

export default defineTempestCommand({
  meta: { name: "supervise status", description: "State, pid, uptime, restarts, last exit, next retry and RSS of every instance" },
  args: { ...socketArgs, json: { type: "boolean", description: "print the rows as JSON" } },
  async run({ args }) {
    const res = await request(args, { type: "status" });
    console.log(args.json ? JSON.stringify(res.status ?? [], null, 2) : formatStatus(res.status ?? []));
  },
});
