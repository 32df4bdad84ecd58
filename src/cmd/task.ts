import { runTaskRole } from "../roles/task/main.ts";
import { defineTempestCommand, parseHostPort, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";
import { findTopology } from "./_topology.ts";

export const taskRoleArgs = {
  connect: { type: "string", required: true, description: "the topology's address", valueHint: "HOST:PORT" },
  instance: { type: "string", description: "instance id shown in logs and stats (default: the pid)", valueHint: "ID" },
} as const;

export default defineTempestCommand({
  meta: { name: "task", description: "Role: run one instance of a task, connected to its topology" },
  args: {
    topology: { type: "positional", required: true, description: "the topology the task belongs to" },
    task: { type: "positional", required: true, description: "the task to run" },
    ...taskRoleArgs,
    ...projectArgs,
  },
  async run({ args, rawArgs }) {
    const address = parseHostPort(args.connect, "--connect");
    const project = await requireProject({ project: args.project, sets: repeatedFlag(rawArgs, "set"), importTasks: false });
    await runTaskRole({ topology: findTopology(project, args.topology), task: args.task, host: address.host, port: address.port, instance: args.instance });
  },
});
