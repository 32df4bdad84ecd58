import { resolve } from "node:path";
import { runAgentRole, resolveAgentOptions, systemdUnit } from "../roles/agent/index.ts";
import { defineTempestCommand } from "./_command.ts";

export default defineTempestCommand({
  meta: { name: "agent", description: "Role: the node agent; registers in Redis and runs the topology and task processes the director assigns" },
  args: {
    director: { type: "string", description: "the director's URL (default TEMPEST_DIRECTOR_URL, else http://127.0.0.1:7700)", valueHint: "URL" },
    redis: { type: "string", description: "Redis (default TEMPEST_REDIS_URL, else redis://127.0.0.1:6379/0)", valueHint: "URL" },
    name: { type: "string", description: "this agent's identity (default: the hostname)", valueHint: "NAME" },
    advertise: { type: "string", description: "the address its processes are reached at (default 127.0.0.1)", valueHint: "HOST" },
    slots: { type: "string", description: "how many processes it may run (default 8)", valueHint: "N" },
    home: { type: "string", description: "TEMPEST_HOME: bin/, logs/, run/ (default TEMPEST_HOME, else ~/.tempest)", valueHint: "DIR" },
    "print-systemd-unit": { type: "boolean", description: "print a systemd unit that runs this agent with these flags, and exit" },
  },
  async run({ args }) {
    const options = resolveAgentOptions(args, process.env);
    if (args["print-systemd-unit"]) {
      const given: string[] = [];
      for (const flag of ["director", "redis", "name", "advertise", "slots"] as const) if (args[flag] !== undefined) given.push(`--${flag}`, String(args[flag]));
      if (args.home !== undefined) given.push("--home", resolve(args.home));
      process.stdout.write(systemdUnit(process.execPath, given));
      return;
    }
    process.exitCode = await runAgentRole(options);
  },
});
