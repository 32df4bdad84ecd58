import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TempestError } from "../../core/errors.ts";
import type { Project, Topology } from "../../core/project/model.ts";
import { progressMode } from "../../core/stats/progress.ts";
import { defineProcess, type ProcessSpec, type SuperviseConfig } from "../../core/supervise/config.ts";
import { describeExit } from "../../core/supervise/policy.ts";
import { createLogger, logTimestamps } from "../log.ts";
import type { InstanceStatus } from "../supervise/instance.ts";
import { startSupervisor, type Supervisor } from "../supervise/supervisor.ts";
import { RUN_ANNOUNCE_ENV, formatSummary, type TopologySummary } from "../topology/summary.ts";
import { workerUnits } from "../../core/project/workers.ts";
import { ChildOutput } from "./child.ts";
import { StatusLine, startProgress } from "./progress.ts";
import { selfCommand } from "./self.ts";

export interface LocalRunOptions {
  project: Project;
  topology: Topology;
  port?: number;
  sets: string[];
  /** `--progress` / `--no-progress`; undefined: TEMPEST_PROGRESS, else only on a terminal. */
  progress?: boolean;
}

const START_TIMEOUT_MS = 15_000;
/** A task told to stop (SIGTERM) gets this long for its close hooks, then SIGKILL. */
const TASK_STOP_MS = 3_000;
const TOPOLOGY = "topology";
/** Below the progress interval: a topology too busy to answer skips a line rather than delays the next. */
const STATS_TIMEOUT_MS = 1_500;

/**
 * How `tempest run` restarts a crashed task: the supervision policy of `tempest supervise`
 * (DESIGN.md §10) with its rate rules, on a shorter leash than a server's: a laptop run should
 * come back within 2 s, and a task that crashes more than 10 times a minute is a bug to see.
 */
const TASK_RULES = {
  restart: "on-failure",
  // 0: its topology told it to leave. 2: it cannot start (a module error): restarting cannot help.
  successCodes: [0, 2],
  backoff: { initialMs: 100, maxMs: 2_000, factor: 2, resetAfterMs: 10_000 },
  limit: { restarts: 10, windowMs: 60_000 },
  stopTimeoutMs: TASK_STOP_MS,
} as const;

/**
 * Local mode (DESIGN.md §1): the topology and every task instance as child processes of this
 * binary, on this machine, started and restarted by the supervision core of `tempest
 * supervise` (its watchdog stops them should this process be SIGKILLed). Returns the exit code.
 * The topology decides when the work is done (a finite source drained); this process only
 * starts, forwards, restarts and stops, and stops the run when a task can never run again.
 */
export async function runLocal(opts: LocalRunOptions): Promise<number> {
  const { project, topology } = opts;
  // Every line this process writes to stderr, its own and its children's, goes through this
  // one writer, which keeps the progress line (if any) below them instead of glued to them.
  const stderr = new StatusLine(process.stderr);
  const log = createLogger("run", stderr);
  const progressShown = progressMode({ flag: opts.progress, env: process.env.TEMPEST_PROGRESS, isTTY: Boolean(process.stderr.isTTY) });
  let progress: { stop(): void } | null = null;
  const self = selfCommand();
  const common = ["--project", project.root, ...opts.sets.flatMap((s) => ["--set", s])];
  const workDir = mkdtempSync(join(tmpdir(), "tempest-run-"));
  const summaryFile = join(workDir, "summary.json");
  const announceFile = join(workDir, "listening.json");
  // The forwarder stamps each child line (or not) for this run's stderr: the children never stamp their own.
  const env = { TEMPEST_PARENT_PID: String(process.pid), TEMPEST_LOG_TIMESTAMPS: "0" };
  const outputs = new Map<string, ChildOutput>();
  const labels = new Map<string, string>();

  let announce!: (port: number) => void;
  const listening = new Promise<number>((r) => (announce = r));
  let topologyEnded!: (s: InstanceStatus) => void;
  const ended = new Promise<InstanceStatus>((r) => (topologyEnded = r));
  /** Why the run must end in failure although the topology may exit cleanly. */
  let failure: string | null = null;
  let stopping: Promise<void> | null = null;
  let sup: Supervisor | null = null;

  const topoSpec = defineProcess({
    name: TOPOLOGY,
    command: self[0]!,
    args: [...self.slice(1), "topology", topology.name, "--port", String(opts.port ?? topology.runtime.port), "--summary-json", summaryFile, ...common],
    env: { ...env, [RUN_ANNOUNCE_ENV]: announceFile },
    restart: "never",
    stopTimeoutMs: topology.runtime.message.timeout + 5_000,
    ...(topology.runtime.source?.type === "stdin" ? { stdin: "inherit" as const } : {}),
  });
  outputs.set(TOPOLOGY, new ChildOutput(TOPOLOGY, stderr));
  // The topology writes its address to a file once it listens: structured, not read off a log line.
  const announcer = setInterval(() => {
    if (!existsSync(announceFile)) return;
    clearInterval(announcer);
    announce((JSON.parse(readFileSync(announceFile, "utf8")) as { port: number }).port);
  }, 20);

  /**
   * Stops the topology (it stops reading and drains), then everything else. Without `drain`,
   * what is in flight is left at the source at once: it cannot finish, and waiting for it
   * would only time it out into the dead letters.
   */
  const stopRun = (why: string, drain = true, signal: "SIGTERM" | "SIGINT" = "SIGTERM"): Promise<void> => {
    // A draining topology's stats say little, and the line must not outlive the run.
    progress?.stop();
    stopping ??= (async () => {
      log.info(`${why}: stopping the topology, then the tasks`);
      if (!drain) await sup?.signalProcess(TOPOLOGY, "SIGUSR2").catch(() => {});
      else if (signal !== "SIGTERM") {
        // Pass on the signal the user sent, so the topology says what really happened; the
        // stop below is the fallback (SIGTERM, then SIGKILL) should it not end in time.
        await sup?.signalProcess(TOPOLOGY, signal).catch(() => {});
        await Promise.race([ended, Bun.sleep(topology.runtime.message.timeout + 5_000)]);
      }
      await sup?.stopProcess(TOPOLOGY).catch(() => {});
    })();
    return stopping;
  };

  const onChange = (s: InstanceStatus) => {
    if (s.name === TOPOLOGY) {
      if (s.state === "exited" || s.state === "fatal" || s.state === "stopped") topologyEnded(s);
      return;
    }
    const tag = labels.get(s.name) ?? `task ${outputs.get(s.name)?.tag ?? s.name}`;
    if (stopping) return;
    if (s.state === "backoff") {
      log.warn(`${tag} ${exitWords(s)}; restarting it in ${s.next_retry_ms ?? 0} ms`);
    } else if (s.state === "exited" && s.last_exit?.code === 2) {
      const out = outputs.get(s.name);
      failure = `${tag} cannot start: ${out?.lastError() ?? out?.tail.at(-1) ?? "exit code 2"}`;
      log.error(failure);
      void stopRun("a task cannot start");
    } else if (s.state === "fatal") {
      failure = `${tag} cannot run: ${s.reason}; the run stopped reading, and what it did not finish stays at the source`;
      log.error(`${tag} will not be restarted again: ${s.reason}`);
      void stopRun("a task can never run again", false);
    }
  };

  const config = (processes: ProcessSpec[]): SuperviseConfig => ({ socket: null, logDir: join(workDir, "logs"), processes });
  const slog = createLogger("run", stderr);
  // Its transition lines name internal entries; this role reports them as tasks instead.
  if (process.env.TEMPEST_LOG_LEVEL !== "debug") slog.level = -999;
  sup = await startSupervisor(config([topoSpec]), {
    log: slog,
    ledgerFile: null,
    removeOnDeath: workDir,
    onOutput: (name, _i, bytes) => outputs.get(name)?.push(bytes),
    onChange,
  });
  const supervisor = sup;

  /** A second Ctrl-C: no more draining, everything is killed and the run ends with 130. */
  let forced = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stopping) return void stopRun(`received ${sig}`, true, sig === "SIGINT" ? "SIGINT" : "SIGTERM");
    forced = true;
    log.warn(`${sig} again: killing every process`);
    supervisor.kill();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const port = await Promise.race([
      listening,
      ended.then((s) => Promise.reject(new TempestError("E_ROLE_START", `the topology could not start (${exitShort(s)}): ${outputs.get(TOPOLOGY)?.lastError() ?? s.reason ?? "no output"}`, { exitCode: 1 }))),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TempestError("E_ROLE_START", `the topology did not start within ${START_TIMEOUT_MS / 1000} s`, { exitCode: 1 })), START_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));

    const host = topology.runtime.host === "0.0.0.0" ? "127.0.0.1" : topology.runtime.host;
    const tasks: ProcessSpec[] = [];
    // One process per instance of each worker (core/project/workers.ts): a fused worker hosts several tasks.
    for (const unit of workerUnits(topology)) {
      const task = unit.leader;
      for (let i = 0; i < unit.workers; i++) {
        const name = `task.${task}.${i}`;
        outputs.set(name, new ChildOutput(`${task}#${i}`, stderr, undefined, unit.tasks.slice(1).map((t) => `${t}#${i}`)));
        // What the run's own lines call it: a fused worker names the tasks it hosts.
        labels.set(name, unit.tasks.length > 1 ? `worker ${task}#${i} (tasks ${unit.tasks.join(", ")})` : `task ${task}#${i}`);
        tasks.push(defineProcess({
          name,
          command: self[0]!,
          args: [...self.slice(1), "task", topology.name, task, "--connect", `${host}:${port}`, "--instance", String(i), ...common],
          env,
          ...TASK_RULES,
          successCodes: [...TASK_RULES.successCodes],
        }));
      }
    }
    if (!stopping) void supervisor.reload(config([topoSpec, ...tasks])).catch((e) => log.error(`cannot start the tasks: ${(e as Error).message}`));

    if (progressShown !== "off" && !stopping) {
      // Imported only when shown: the codec costs start-up time a run without it need not pay.
      const { controlRequest } = await import("../topology/control-client.ts");
      if (!stopping) progress = startProgress({ mode: progressShown, status: stderr, stamp: logTimestamps(), sample: () => controlRequest(host, port, "stats_request", STATS_TIMEOUT_MS) });
    }

    const topo = await ended;
    progress?.stop();
    if (forced) return 130;
    // The work is over one way or another: no task is restarted, every one is stopped now.
    stopping ??= Promise.resolve();
    const summary = existsSync(summaryFile) ? (JSON.parse(readFileSync(summaryFile, "utf8")) as TopologySummary) : null;
    await supervisor.stop();
    for (const o of outputs.values()) o.flush();
    const clean = topo.state !== "fatal" && topo.last_exit?.code === 0 && topo.last_exit.signal === null;
    if (!clean) {
      const said = outputs.get(TOPOLOGY)?.lastError();
      throw new TempestError("E_RUNTIME", `the topology ${exitWords(topo)}${said ? `: ${said}` : ""}`, { exitCode: 1 });
    }
    if (summary) console.log(formatSummary(summary));
    if (failure) throw new TempestError("E_RUNTIME", failure, { exitCode: 1 });
    return 0;
  } catch (e) {
    if (forced) return 130;
    throw e;
  } finally {
    progress?.stop();
    clearInterval(announcer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    supervisor.kill();
    await supervisor.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function exitWords(s: InstanceStatus): string {
  if (s.state === "fatal" && !s.last_exit) return `could not be started (${s.reason})`;
  const e = s.last_exit;
  if (!e) return "ended";
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

function exitShort(s: InstanceStatus): string {
  return s.last_exit ? (s.last_exit.signal ? s.last_exit.signal : `exit ${s.last_exit.code}`) : describeExit({ code: null, signal: null });
}
