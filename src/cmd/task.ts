import { TempestError } from "../core/errors.ts";
import { runTaskRole } from "../roles/task/main.ts";
import { defineTempestCommand, parseHostPort, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";
import { findTopology } from "./_topology.ts";

export const taskRoleArgs = {
  connect: { type: "string", description: "the topology's address (or --discover); on another machine, set TEMPEST_TOKEN to the topology's", valueHint: "HOST:PORT" },
  discover: { type: "boolean", description: "find the topology's address in the Redis registry at TEMPEST_REDIS_URL, and follow it when it moves" },
  instance: { type: "string", description: "instance id shown in logs and stats (default: the pid)", valueHint: "ID" },
} as const;

/** Exactly one of `--connect HOST:PORT` and `--discover`. */
export function taskAddress(args: { connect?: string; discover?: boolean }, command: string): { host: string; port: number } | "discover" {
  if (args.connect !== undefined && args.discover) throw new TempestError("E_USAGE", `${command}: give either --connect or --discover, not both`, { hint: "--connect HOST:PORT for a fixed address, --discover to find it in Redis" });
  if (args.discover) return "discover";
  if (args.connect === undefined) throw new TempestError("E_USAGE", `${command} needs --connect HOST:PORT or --discover`, { hint: "--connect HOST:PORT for a fixed address, --discover to find the topology in Redis (TEMPEST_REDIS_URL)" });
  return parseHostPort(args.connect, "--connect");
}

export default defineTempestCommand({
  meta: { name: "task", description: "Role: run one instance of a task, connected to its topology" },
  args: {
    topology: { type: "positional", required: true, description: "the topology the task belongs to" },
    task: { type: "positional", required: true, description: "the task to run" },
    ...taskRoleArgs,
    ...projectArgs,
  },
  async run({ args, rawArgs }) {
    const address = taskAddress(args, "tempest task");
    const project = await requireProject({ project: args.project, sets: repeatedFlag(rawArgs, "set"), importTasks: false });
    process.exitCode = await runTaskRole({ topology: findTopology(project, args.topology), task: args.task, address, instance: args.instance });
  },
});
