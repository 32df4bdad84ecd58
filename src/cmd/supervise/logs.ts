import { TempestError } from "../../core/errors.ts";
import { defineTempestCommand } from "../_command.ts";
import { request, socketArgs } from "./_socket.ts";

export default defineTempestCommand({
  meta: { name: "supervise logs", description: "Print a process's last log lines (-f: keep following); `logs reopen` reopens every log file" },
  args: {
    name: { type: "positional", required: true, description: "the process, or `reopen` after an external rotation (like SIGUSR2)" },
    lines: { type: "string", alias: "n", description: "how many lines of each instance (default 20)", valueHint: "N" },
    follow: { type: "boolean", alias: "f", description: "keep printing new output until interrupted" },
    ...socketArgs,
  },
  async run({ args }) {
    if (args.name === "reopen" && args.lines === undefined && !args.follow) {
      const res = await request(args, { type: "reopen" });
      console.log(res.message ?? "log files reopened");
      return;
    }
    const lines = args.lines === undefined ? 20 : Number(args.lines);
    if (!Number.isInteger(lines) || lines < 0) throw new TempestError("E_USAGE", `-n ${args.lines} is not a number of lines`, { hint: "e.g. -n 100" });
    // Raw bytes to stdout: the program's output exactly as it wrote it.
    await request(args, { type: "logs", name: args.name, lines, follow: args.follow === true }, (b) => process.stdout.write(b));
  },
});
