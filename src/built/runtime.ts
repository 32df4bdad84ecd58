/**
 * The runtime inside every executable `tempest build` makes.
 *
 * Why a pre-bundled runtime: a built executable must run on a machine with nothing installed —
 * no tempest, no Bun, no node_modules, no project files. So `npm run build` bundles this entry
 * (roles, codec, core, SDK and their dependencies) into one JavaScript file,
 * `dist/embed/runtime.js`, which the tempest binary carries as an asset. `tempest build` writes
 * it next to a generated entry (core/build/plan.ts `entrySource`) that imports the user's modules
 * and the loaded project description, and compiles both with the Bun inside tempest; the user's
 * `import … from "tempest"` resolves to this very file, so the SDK is the same instance.
 *
 * The executable picks its role from its own file name (`<project>-<name>-<version>`, hard
 * links of one compiled file) and takes the flags of `tempest topology` / `tempest task`. It
 * reads no Project.toml: the project is embedded, and only the runtime layering runs at start —
 * the embedded Runtime.toml < `TEMPEST__…` environment < `--set` flags — with relative paths
 * resolved against the working folder.
 */
import { findTopologyNamed } from "../core/project/find.ts";
import { basename } from "node:path";
import { runCommand, type CommandDef } from "citty";
import { defineTempestCommand, parsePort, repeatedFlag } from "../cmd/_command.ts";
import { renderHelp } from "../cmd/_help.ts";
import { reportError } from "../cmd/_report.ts";
import { taskAddress, taskRoleArgs } from "../cmd/task.ts";
import { topologyRoleArgs } from "../cmd/topology.ts";
import type { EmbeddedProject, ExecutableRole } from "../core/build/plan.ts";
import { TempestError, isTempestError } from "../core/errors.ts";
import { layerRuntime } from "../core/project/load.ts";
import type { Topology } from "../core/project/model.ts";
import { selectExport } from "../core/project/modules.ts";
import { findTask, runTaskRole } from "../roles/task/main.ts";
import type { TaskInfo } from "../core/project/model.ts";
import { runTopologyRole } from "../roles/topology/main.ts";
import { isTaskDefinition } from "../sdk/index.ts";

export * from "../sdk/index.ts";

export type ModuleTable = Record<string, () => Promise<Record<string, unknown>>>;

const setArg = { set: { type: "string", description: "override a runtime setting, repeatable: --set topology.x.message.timeout=5000", valueHint: "KEY=VALUE" } } as const;

/** The whole life of a built executable; never returns. */
export async function main(embedded: EmbeddedProject, modules: ModuleTable): Promise<never> {
  let code: number;
  try {
    code = await run(process.argv.slice(2), embedded, modules);
  } catch (e) {
    // The same reporter as tempest's own entry point: one output for every error.
    code = reportError(e, "it with --help for the flags");
  }
  process.exit(code);
}

async function run(argv: string[], embedded: EmbeddedProject, modules: ModuleTable): Promise<number> {
  // The name it was started by: execPath is the hard link's own name; argv0 helps through a symlink.
  const self = [basename(process.execPath), basename(process.argv0)].find((n) => embedded.executables[n]) ?? basename(process.execPath);
  let role: ExecutableRole | undefined = embedded.executables[self];
  let args = argv;
  // Renamed? `<file> topology <name> …` and `<file> task <topology> <task> …` still work.
  if (!role && argv[0] === "topology" && argv[1]) [role, args] = [{ role: "topology", topology: argv[1] }, argv.slice(2)];
  else if (!role && argv[0] === "task" && argv[1] && argv[2]) [role, args] = [{ role: "task", topology: argv[1], task: argv[2] }, argv.slice(3)];
  if (argv[0] === "--version" || argv[0] === "-v") {
    console.log(`${embedded.project} ${embedded.version} (tempest ${embedded.tempestVersion})`);
    return 0;
  }
  if (!role) {
    throw new TempestError("E_USAGE", `${self} is not one of the executables of this build (${Object.keys(embedded.executables).join(", ")})`, {
      hint: `give it its built name back, or run \`${self} topology <name>\` or \`${self} task <topology> <task>\``,
    });
  }
  const cmd = role.role === "topology" ? topologyCommand(self, role.topology, embedded) : taskCommand(self, role.topology, role.task, embedded, modules);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(await renderHelp(cmd as CommandDef, [`./${self}`]));
    return 0;
  }
  try {
    await runCommand(cmd as CommandDef, { rawArgs: args });
  } catch (e) {
    // The shared flag checks speak of `tempest <command>`; here the command is this file.
    if (isTempestError(e) && e.message.includes(`tempest ${self}`)) {
      throw new TempestError(e.code, e.message.replaceAll(`tempest ${self}`, self), { hint: e.hint?.replaceAll(`tempest ${self}`, `./${self}`), exitCode: e.exitCode });
    }
    throw e;
  }
  return typeof process.exitCode === "number" ? process.exitCode : 0;
}

function topologyCommand(self: string, name: string, embedded: EmbeddedProject) {
  return defineTempestCommand({
    meta: { name: self, description: `Topology \`${name}\` of ${embedded.project} ${embedded.version}: the TCP service its tasks connect to` },
    args: { ...topologyRoleArgs, ...setArg } as const,
    async run({ args, rawArgs }) {
      const port = args.port !== undefined ? parsePort(args.port) : undefined;
      const topology = loadTopology(embedded, name, repeatedFlag(rawArgs, "set"));
      process.exitCode = await runTopologyRole({ topology, host: args.host, port, summaryJson: args["summary-json"] });
    },
  });
}

function taskCommand(self: string, topologyName: string, task: string, embedded: EmbeddedProject, modules: ModuleTable) {
  return defineTempestCommand({
    meta: { name: self, description: `Task \`${task}\` of topology \`${topologyName}\` (${embedded.project} ${embedded.version})` },
    args: { ...taskRoleArgs, ...setArg } as const,
    async run({ args, rawArgs }) {
      const address = taskAddress(args, self);
      const topology = loadTopology(embedded, topologyName, repeatedFlag(rawArgs, "set"));
      findTask(topology, task);
      // A fused worker hosts several tasks: every module is in this build's table.
      const load = async (info: TaskInfo) => {
        const imported = modules[info.module];
        if (!imported) throw new TempestError("E_MODULE_LOAD", `this build has no module ${info.module} for task \`${info.name}\``, { exitCode: 1, hint: "build the project again" });
        const definition = selectExport(await imported(), info.select);
        if (!isTaskDefinition(definition)) {
          throw new TempestError("E_MODULE_SHAPE", `${info.module}: ${info.select.join(".")} is not a task`, { hint: "define it with defineTask({ handle(msg, ctx) { … } })" });
        }
        return definition;
      };
      process.exitCode = await runTaskRole({ topology, task, address, instance: args.instance, load });
    },
  });
}

/** The embedded topology with its runtime layered here and now (environment, --set, cwd). */
function loadTopology(embedded: EmbeddedProject, name: string, sets: string[]): Topology {
  const found = findTopologyNamed(embedded.topologies, name, "this build");
  const layered = layerRuntime({
    root: process.cwd(),
    runtime: embedded.runtime,
    topologies: embedded.topologies.map((t) => ({ name: t.name, tasks: t.tasks.map((x) => x.name) })),
    env: process.env,
    sets,
  });
  const errors = layered.problems.filter((p) => p.severity === "error");
  if (errors.length) throw new TempestError(errors[0]?.code ?? "E_CONFIG_INVALID", `${errors.length} problem(s) in the runtime settings`, { problems: layered.problems });
  return { ...found, runtime: layered.runtimes.get(name) as Topology["runtime"] };
}
