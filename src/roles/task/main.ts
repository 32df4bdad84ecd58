import { taskSpecs } from "../../core/project/specs.ts";
import { unitConcurrency, unitOf } from "../../core/project/workers.ts";
import { TempestError, formatProblem } from "../../core/errors.ts";
import type { TaskInfo, Topology } from "../../core/project/model.ts";
import { importUserModule, selectExport } from "../../core/project/modules.ts";
import { didYouMean } from "../../core/text/suggest.ts";
import { isTaskDefinition, type TaskDefinition } from "../../sdk/index.ts";
import { createLogger } from "../log.ts";
import { ORPHAN_EXIT_MS, watchParent } from "../parent-watch.ts";
import { onStopSignal } from "../signals.ts";
import { fixedAddress, startTaskWorker, type TopologyAddress } from "./worker.ts";
import { discoverTopology } from "./discover.ts";
import { startHangWatchdog } from "./hang-watchdog.ts";
import { createKeys } from "../../core/registry/keys.ts";
import { advertisedHost, register, registryUrl } from "../registry/registry.ts";
import { VERSION } from "../../version.ts";

const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0";
/** How long a task of `tempest run` waits for an unreachable topology before it leaves. */
const RUN_TASK_GIVE_UP_MS = 5_000;
/** A blocked event loop ends the process after this: twice the silence (5 heartbeats of 1 s) after which the topology drops it. */
const HANG_LIMIT_MS = 10_000;

export interface TaskRoleOptions {
  topology: Topology;
  task: string;
  /** `--connect HOST:PORT`, or `"discover"`: find the topology in the registry (DESIGN.md §9). */
  address: TopologyAddress | "discover";
  instance?: string;
  /** Loads a task's handler (a built executable has its own module table); default: import the project's module. */
  load?: (info: TaskInfo) => Promise<TaskDefinition>;
}

/**
 * The whole life of a task process: find the worker that hosts the task (a fused worker hosts
 * the tasks core/project/workers.ts groups with it), load their handlers, connect, run until
 * told to stop. Shared by `tempest task` and the executables `tempest build` makes.
 */
/** Resolves with the exit code: 0 after a clean stop, 130 after a second stop signal, 1 when orphaned. */
export async function runTaskRole(opts: TaskRoleOptions): Promise<number> {
  const { topology } = opts;
  // Signals are taken from the very start: one that comes while the task is still starting stops it once it can.
  let stopNow: ((sig: string) => void) | null = null;
  let early: string | null = null;
  const { forced } = onStopSignal((sig) => (stopNow ? stopNow(sig) : (early = sig)));
  const info = findTask(topology, opts.task);
  const unit = unitOf(topology, info.name) ?? { leader: info.name, tasks: [info.name], workers: 1 };
  const load = opts.load ?? loadTaskDefinition;
  const instance = opts.instance ?? String(process.pid);
  const hosted = [];
  for (const name of unit.tasks) hosted.push({ name, definition: await load(findTask(topology, name)), log: createLogger(`${name}#${instance}`) });
  // The worker speaks as the task it was started for (`tempest task y B` is B's, hosting A, C, D too).
  const log = hosted.find((h) => h.name === info.name)!.log;
  if (unit.tasks.length > 1) log.debug(`a fused worker: hosts ${unit.tasks.join(", ")}`);
  // From here on (modules loaded), a handler that blocks the event loop for good ends the process.
  const watchdog = startHangWatchdog({ limitMs: Number(process.env.TEMPEST_HANG_LIMIT_MS) || HANG_LIMIT_MS, name: `${info.name}#${instance}` });
  const uri = registryUrl(topology);
  const discovery = opts.address === "discover" ? await discoverTopology({ uri: uri ?? DEFAULT_REDIS_URL, topology: topology.name, log, deployVersion: process.env.TEMPEST_DEPLOY_VERSION || undefined }) : undefined;
  const worker = startTaskWorker({
    topology: topology.name,
    task: info.name,
    instance,
    hosted,
    specs: taskSpecs(topology),
    resolve: discovery?.resolve ?? fixedAddress(opts.address as TopologyAddress),
    waiting: discovery?.waiting,
    concurrency: unitConcurrency(topology, unit),
    handlerTimeoutMs: topology.runtime.message.timeout,
    log,
    token: process.env.TEMPEST_TOKEN || undefined,
    // Started by `tempest run` at a fixed address: it belongs to that run's topology and gives
    // up when it is gone. A discovering task (a cluster) keeps waiting: its topology may move.
    belongsToRun: process.env.TEMPEST_PARENT_PID && !discovery
      ? { instance: process.env.TEMPEST_TOPOLOGY_INSTANCE || undefined, giveUpMs: Number(process.env.TEMPEST_TASK_GIVE_UP_MS) || RUN_TASK_GIVE_UP_MS }
      : undefined,
  });
  stopNow = (sig) => void worker.stop(sig);
  if (early) stopNow(early);
  const registration = uri
    ? await register({
        uri,
        record: { kind: "task", id: createKeys().taskId(topology.name, info.name, instance, advertisedHost(), process.pid), topology: topology.name, task: info.name, instance, ...(unit.tasks.length > 1 ? { tasks: unit.tasks } : {}) },
        log,
        version: VERSION,
      })
    : undefined;
  const orphaned = new Promise<number>((resolve) =>
    watchParent(() => {
      void worker.stop("tempest run went away");
      setTimeout(() => resolve(1), ORPHAN_EXIT_MS);
    }));
  const code = await Promise.race([worker.finished.then(() => 0), forced, orphaned]);
  watchdog.stop();
  if (code !== 0) return code;
  discovery?.close();
  await registration?.stop();
  const gaveUp = worker.gaveUp();
  if (gaveUp) throw new TempestError("E_UNREACHABLE", gaveUp, { exitCode: 1 });
  return 0;
}

export function findTask(topology: Topology, name: string): TaskInfo {
  const info = topology.tasks.find((t) => t.name === name);
  if (info) return info;
  const names = topology.tasks.map((t) => t.name);
  throw new TempestError("E_CONFIG_INVALID", `topology \`${topology.name}\` has no task \`${name}\``, { hint: didYouMean(name, names) || `its tasks: ${names.join(", ")}` });
}

/** Imports the task's module and picks its definition; errors name the file and line. */
export async function loadTaskDefinition(info: TaskInfo): Promise<TaskDefinition> {
  const imported = await importUserModule(info.module);
  if (!imported.ok) throw new TempestError("E_MODULE_LOAD", formatProblem(imported.problem), { exitCode: 2 });
  const definition = selectExport(imported.ns, info.select);
  if (!isTaskDefinition(definition)) {
    throw new TempestError("E_MODULE_SHAPE", `${info.module}: ${info.select.join(".")} is not a task`, { hint: "define it with defineTask({ handle(msg, ctx) { … } })" });
  }
  return definition;
}
