import { defineTempestCommand } from "../_command.ts";
import { formatStatus } from "./_table.ts";
import { request, socketArgs } from "./_socket.ts";

/** start, stop and restart: the same shape; each answers once every instance has settled. */
function controlCommand(type: "start" | "stop" | "restart", description: string) {
  return defineTempestCommand({
    meta: { name: `supervise ${type}`, description },
    args: {
      name: { type: "positional", required: true, description: "the process (all of its instances)" },
      ...socketArgs,
      json: { type: "boolean", description: "print the resulting rows as JSON" },
    },
    async run({ args }) {
      const res = await request(args, { type, name: args.name });
      console.log(args.json ? JSON.stringify(res.status ?? [], null, 2) : formatStatus(res.status ?? []));
    },
  });
}

export const start = controlCommand("start", "Start a stopped, exited or fatal process (its restart counters start afresh)");
export const stop = controlCommand("stop", "Stop a process: stop_signal to its group, SIGKILL after stop_timeout_ms; it stays stopped");
export const restart = controlCommand("restart", "Stop a process, then start it again");
