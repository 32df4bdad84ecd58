import { defineTempestCommand } from "../_command.ts";
import { request, socketArgs } from "./_socket.ts";

export default defineTempestCommand({
  meta: { name: "supervise signal", description: "Send a signal to every running instance's process group" },
  args: {
    name: { type: "positional", required: true, description: "the process" },
    signal: { type: "positional", required: true, description: "e.g. SIGHUP, USR1" },
    ...socketArgs,
  },
  async run({ args }) {
    const res = await request(args, { type: "signal", name: args.name, signal: args.signal });
    const pids = (res.status ?? []).map((r) => r.pid).filter((p) => p !== null);
    console.log(`sent ${args.signal.toUpperCase().replace(/^(?!SIG)/, "SIG")} to ${args.name} (pid ${pids.join(", ")})`);
  },
});
