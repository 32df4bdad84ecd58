import { TempestError, formatProblem } from "../core/errors.ts";
import { importUserModule, selectExport } from "../core/project/modules.ts";
import { isTaskDefinition } from "../sdk/index.ts";
import { createLogger } from "../roles/log.ts";
import { ORPHAN_EXIT_MS, watchParent } from "../roles/parent-watch.ts";
import { onStopSignal } from "../roles/signals.ts";
import { startTaskWorker } from "../roles/task/worker.ts";
import { didYouMean } from "../core/text/suggest.ts";
import { DEFAULTS } from "../core/config/runtime-schema.ts";
import { defineTempestCommand, parseHostPort, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";
import { findTopology } from "./_topology.ts";

export default defineTempestCommand({
  meta: { name: "task", description: "Role: run one instance of a task, connected to its topology" },
  args: {
    topology: { type: "positional", required: true, description: "the topology the task belongs to" },
    task: { type: "positional", required: true, description: "the task to run" },
    connect: { type: "string", required: true, description: "the topology's address", valueHint: "HOST:PORT" },
    instance: { type: "string", description: "instance id shown in logs and stats (default: the pid)", valueHint: "ID" },
    ...projectArgs,
  },
  async run({ args, rawArgs }) {
    const address = parseHostPort(args.connect, "--connect");
    const project = await requireProject({ project: args.project, sets: repeatedFlag(rawArgs, "set"), importTasks: false });
    const topology = findTopology(project, args.topology);
    const info = topology.tasks.find((t) => t.name === args.task);
    if (!info) {
      const names = topology.tasks.map((t) => t.name);
      throw new TempestError("E_CONFIG_INVALID", `topology \`${topology.name}\` has no task \`${args.task}\``, { hint: didYouMean(args.task, names) || `its tasks: ${names.join(", ")}` });
    }
    const imported = await importUserModule(info.module);
    if (!imported.ok) throw new TempestError("E_MODULE_LOAD", formatProblem(imported.problem), { exitCode: 2 });
    const definition = selectExport(imported.ns, info.select);
    if (!isTaskDefinition(definition)) {
      throw new TempestError("E_MODULE_SHAPE", `${info.module}: ${info.select.join(".")} is not a task`, { hint: "define it with defineTask({ handle(msg, ctx) { … } })" });
    }
    const instance = args.instance ?? String(process.pid);
    const log = createLogger(`${info.name}#${instance}`);
    const worker = startTaskWorker({
      topology: topology.name,
      task: info.name,
      instance,
      definition,
      host: address.host,
      port: address.port,
      concurrency: topology.runtime.task[info.name]?.concurrency ?? info.concurrency ?? DEFAULTS.concurrency,
      handlerTimeoutMs: topology.runtime.message.timeout,
      log,
    });
    onStopSignal((sig) => void worker.stop(sig));
    watchParent(() => {
      void worker.stop("tempest run went away");
      setTimeout(() => process.exit(1), ORPHAN_EXIT_MS).unref();
    });
    await worker.finished;
  },
});
