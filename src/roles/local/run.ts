import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TempestError } from "../../core/errors.ts";
import type { Project, Topology } from "../../core/project/model.ts";
import type { Logger } from "../log.ts";
import { formatSummary, type TopologySummary } from "../topology/summary.ts";
import { signalGroup, spawnChild, type Child } from "./child.ts";
import { selfCommand } from "./self.ts";

export interface LocalRunOptions {
  project: Project;
  topology: Topology;
  port?: number;
  sets: string[];
  log: Logger;
}

const START_TIMEOUT_MS = 15_000;
const TASK_EXIT_GRACE_MS = 10_000;
const MAX_RESTARTS = 5;

/**
 * Local mode (DESIGN.md §1): the topology and every task instance as child processes of this
 * binary, on this machine. Returns the exit code. The topology decides when the work is done
 * (a finite source drained); this process only starts, forwards, restarts and stops.
 */
export async function runLocal(opts: LocalRunOptions): Promise<number> {
  const { project, topology, log } = opts;
  const self = selfCommand();
  const common = ["--project", project.root, ...opts.sets.flatMap((s) => ["--set", s])];
  const env = { ...process.env, TEMPEST_PARENT_PID: String(process.pid) };
  const workDir = mkdtempSync(join(tmpdir(), "tempest-run-"));
  const summaryFile = join(workDir, "summary.json");
  const tasks = new Map<string, Child>();
  let stopping = false;
  let topoExited = false;
  let failed = false;

  let announce!: (port: number) => void;
  const listening = new Promise<number>((r) => (announce = r));
  const topo = spawnChild("topology", [...self, "topology", topology.name, "--port", String(opts.port ?? topology.runtime.port), "--summary-json", summaryFile, ...common], {
    env,
    stdin: topology.runtime.source?.type === "stdin" ? "inherit" : "ignore",
    onLine: (line) => {
      const m = /listening on (\S+):(\d+)$/.exec(line);
      if (m) announce(Number(m[2]));
    },
  });

  const stopAll = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${why}: stopping the topology, then the tasks`);
    signalGroup(topo, "SIGTERM");
  };
  const onSignal = (sig: NodeJS.Signals) => (stopping ? process.exit(130) : stopAll(`received ${sig}`));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const port = await Promise.race([
      listening,
      topo.exited.then((code) => Promise.reject(startFailure("the topology", code, topo))),
      Bun.sleep(START_TIMEOUT_MS).then(() => Promise.reject(new TempestError("E_ROLE_START", `the topology did not start within ${START_TIMEOUT_MS / 1000} s`, { exitCode: 1 }))),
    ]);
    const host = topology.runtime.host === "0.0.0.0" ? "127.0.0.1" : topology.runtime.host;
    for (const task of topology.dag.tasks) {
      const workers = topology.runtime.task[task]?.workers ?? 1;
      for (let i = 0; i < workers; i++) {
        startTask(task, i, 0);
      }
    }

    function startTask(task: string, instance: number, restarts: number): void {
      const name = `${task}#${instance}`;
      const child = spawnChild(name, [...self, "task", topology.name, task, "--connect", `${host}:${port}`, "--instance", String(instance), ...common], { env, stdin: "ignore" });
      tasks.set(name, child);
      void child.exited.then((code) => {
        // Exit 0 is a task leaving because its topology told it to: not a crash.
        if (stopping || topoExited || (code === 0 && !child.proc.signalCode)) return;
        if (code === 2) {
          log.error(`task ${name} cannot start: ${child.tail.at(-1) ?? `exit code ${code}`}`);
          stopAll("a task cannot start");
          failed = true;
          return;
        }
        if (restarts >= MAX_RESTARTS) {
          log.error(`task ${name} exited ${describeExit(child)} ${restarts + 1} times; not restarting it again`);
          return;
        }
        log.warn(`task ${name} exited ${describeExit(child)}; restarting it`);
        setTimeout(() => !stopping && !topoExited && startTask(task, instance, restarts + 1), 200 * 2 ** restarts);
      });
    }

    const topoCode = await topo.exited;
    topoExited = true;
    // The topology told its tasks to shut down; give them time to finish (close hooks), then insist.
    await waitAll([...tasks.values()], TASK_EXIT_GRACE_MS, () => [...tasks.values()].forEach((c) => signalGroup(c, "SIGTERM")));
    await waitAll([...tasks.values()], 3_000, () => [...tasks.values()].forEach((c) => signalGroup(c, "SIGKILL")));
    if (topoCode !== 0) {
      throw new TempestError("E_RUNTIME", `the topology exited ${describeExit(topo)}: ${lastError(topo)}`, { exitCode: 1 });
    }
    if (failed) return 1;
    if (existsSync(summaryFile)) {
      const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as TopologySummary;
      console.log(formatSummary(summary));
    }
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    signalGroup(topo, "SIGKILL");
    for (const c of tasks.values()) signalGroup(c, "SIGKILL");
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function waitAll(children: Child[], ms: number, onTimeout: () => void): Promise<void> {
  const all = Promise.all(children.map((c) => c.exited));
  const timer = setTimeout(onTimeout, ms);
  const settled = await Promise.race([all.then(() => true), Bun.sleep(ms + 100).then(() => false)]);
  clearTimeout(timer);
  if (!settled) await Promise.race([all, Bun.sleep(1000)]);
}

function describeExit(c: Child): string {
  const sig = c.proc.signalCode;
  return sig ? `on ${sig}` : `with code ${c.proc.exitCode}`;
}

function lastError(c: Child): string {
  const line = [...c.tail].reverse().find((l) => /error/i.test(l)) ?? c.tail.at(-1) ?? "no output";
  return line.replace(/^\[[^\]]+\]\s*/, "").replace(/^error:\s*/, "");
}

function startFailure(what: string, code: number, c: Child): TempestError {
  return new TempestError("E_ROLE_START", `${what} could not start (exit ${code}): ${lastError(c)}`, { exitCode: 1 });
}
