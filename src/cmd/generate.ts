import { defineCommand } from "citty";
import { formatProblem } from "../core/errors.ts";
import type { Project } from "../core/project/model.ts";
import { generateTask, generateTopology, type Generated } from "../roles/scaffold/generate.ts";
import { defineTempestCommand } from "./_command.ts";
import { loadProjectFor, projectArgs, requireProject } from "./_project.ts";

const { project: projectFlag } = projectArgs;

const topology = defineTempestCommand({
  meta: { name: "generate topology", description: "Add a topology module, register it in a member file and give it a generator source" },
  args: {
    name: { type: "positional", required: true, description: "the new topology's name" },
    member: { type: "string", description: "the member file's project name (when there are several)", valueHint: "NAME" },
    project: projectFlag,
  },
  async run({ args }) {
    const project = await requireProject({ project: args.project });
    const made = generateTopology(project, { name: args.name, member: args.member });
    report(made);
    await recheck(project);
    console.log(`run it: tempest run ${args.name}`);
  },
});

const task = defineTempestCommand({
  meta: { name: "generate task", description: "Add a task module (and its test) and wire it into a topology" },
  args: {
    name: { type: "positional", required: true, description: "the new task's name" },
    topology: { type: "string", description: "the topology that gets it (needed when there are several)", valueHint: "T" },
    after: { type: "string", description: "the task whose outputs it receives (default: the last task with children)", valueHint: "TASK" },
    project: projectFlag,
  },
  async run({ args }) {
    const project = await requireProject({ project: args.project });
    const made = generateTask(project, { name: args.name, topology: args.topology, after: args.after });
    report(made);
    const why = made.why ? ` (${made.why}; --after TASK to choose)` : "";
    if (!made.manual) console.log(`wired in: ${made.after} --> ${args.name} in topology \`${made.topology}\`${why}`);
    else if (made.why) console.log(`after ${made.after}: ${made.why}; --after TASK to choose`);
    if (made.warning) console.error(`warning: ${made.warning}`);
    await recheck(project);
  },
});

export default defineCommand({
  meta: { name: "generate", description: "Add a topology or a task to the project" },
  // Lazy, like every subcommand (cli.ts resolves them for --help).
  subCommands: { topology: async () => topology, task: async () => task },
});

function report(made: Generated): void {
  for (const f of made.created) console.log(`created ${f}`);
  for (const f of made.edited) console.log(`edited  ${f}`);
  if (made.manual) {
    console.log(`add it to ${made.manual.file} yourself:`);
    for (const l of made.manual.lines) console.log(`  ${l}`);
  }
}

/** Loads the project again, so a change that broke something is said at once. */
async function recheck(before: Project): Promise<void> {
  const { problems } = await loadProjectFor({ project: before.root });
  for (const p of problems) console.error(formatProblem(p));
  if (problems.some((p) => p.severity === "error")) process.exitCode = 2;
}
