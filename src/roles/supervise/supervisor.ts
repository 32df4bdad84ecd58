import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { TempestError, formatProblem } from "../../core/errors.ts";
import { normalizeSignal, sameSpec, type ProcessSpec, type SuperviseConfig } from "../../core/supervise/config.ts";
import type { SuperviseLoadResult } from "../../core/supervise/load.ts";
import { didYouMean } from "../../core/text/suggest.ts";
import { clock } from "../clock.ts";
import { createLogger, type Logger } from "../log.ts";
import { listenControl, type ControlServer } from "./control-server.ts";
import { Instance, type InstanceDeps, type InstanceStatus } from "./instance.ts";
import { KeyedQueue } from "./keyed-queue.ts";
import { RotatingLog } from "./log-file.ts";
import { lastLines } from "./log-tail.ts";
import { PidLedger, stopLeftovers } from "./pid-ledger.ts";
import { allProcesses, rssBytes } from "./proc.ts";
import type { ReloadSummary } from "./protocol.ts";
import { controlHandler } from "./serve.ts";
import { startWatchdog } from "./watchdog.ts";

export interface SupervisorOptions {
  log?: Logger;
  /** Re-reads the config for `reload()` without an argument (SIGHUP, the socket's `reload`). */
  reloadConfig?: () => SuperviseLoadResult | Promise<SuperviseLoadResult>;
  /** Where the pids of live groups are kept for a successor; default `<socket>.pids`, none without a socket. */
  ledgerFile?: string | null;
  /** Guard the children against a SIGKILLed supervisor (default true). */
  watchdog?: boolean;
  /**
   * Hears everything every instance writes, from its very first byte (installed before the
   * spawn, unlike `followLogs`, which can only attach once the process exists): the agent
   * ships log lines with it.
   */
  onOutput?: (name: string, instance: number, bytes: Uint8Array) => void;
  /** Every phase change of every instance (`tempest run` stops when a task can never run again). */
  onChange?: (status: InstanceStatus) => void;
  /** A folder the watchdog removes should this supervisor die without cleaning up (SIGKILL). */
  removeOnDeath?: string;
}

/** A running supervisor: what the CLI's control socket and the agent (DESIGN.md §8) drive. */
export interface Supervisor {
  readonly socket: string | null;
  status(): InstanceStatus[];
  startProcess(name: string): Promise<InstanceStatus[]>;
  stopProcess(name: string): Promise<InstanceStatus[]>;
  restartProcess(name: string): Promise<InstanceStatus[]>;
  /** To every instance's process group. */
  signalProcess(name: string, signal: string): Promise<InstanceStatus[]>;
  /** Applies a new config, or re-reads it; only processes whose entry changed are restarted. */
  reload(config?: SuperviseConfig): Promise<ReloadSummary>;
  reopenLogs(): void;
  tailLogs(name: string, lines: number): Uint8Array;
  /** Everything the process writes from now on; `onEnd` when its logs close (removed by a reload). */
  followLogs(name: string, onBytes: (bytes: Uint8Array) => void, onEnd: () => void): () => void;
  /** Stops every process (last entry first), then the socket. */
  stop(): Promise<void>;
  /** SIGKILL to every group at once: for a second Ctrl-C. */
  kill(): void;
  readonly stopped: Promise<void>;
}

interface Entry {
  spec: ProcessSpec;
  instances: Instance[];
}

/**
 * Starts supervising `config.processes`: claims the control socket (refusing if another
 * supervisor answers on it), stops what a SIGKILLed predecessor left running, starts the
 * watchdog, then every instance.
 */
export async function startSupervisor(config: SuperviseConfig, opts: SupervisorOptions = {}): Promise<Supervisor> {
  const log = opts.log ?? createLogger("supervise");
  try {
    mkdirSync(config.logDir, { recursive: true });
  } catch (e) {
    throw new TempestError("E_ROLE_START", `cannot create the log folder ${config.logDir}: ${(e as Error).message}`, { hint: "set `log_dir` in [supervise] to a folder you can write to", exitCode: 1 });
  }
  const onChange = opts.onChange;
  const deps: InstanceDeps = { log, watchdog: null, ledger: null, clock, onChange: onChange && ((i) => onChange(i.status(clock(), () => 0))) };
  const queue = new KeyedQueue();
  let entries: Entry[] = [];
  let shuttingDown: Promise<void> | null = null;
  let markStopped!: () => void;
  const stopped = new Promise<void>((r) => (markStopped = r));

  const find = (name: string): Entry => {
    const e = entries.find((x) => x.spec.name === name);
    if (e) return e;
    const known = entries.map((x) => x.spec.name);
    throw new TempestError("E_USAGE", `no process named \`${name}\``, { hint: didYouMean(name, known) || (known.length ? `known processes: ${known.join(", ")}` : "the config has no [[process]] entries"), exitCode: 2 });
  };
  const guard = () => {
    if (shuttingDown) throw new TempestError("E_RUNTIME", "the supervisor is shutting down", { exitCode: 1 });
  };
  const create = (spec: ProcessSpec): Entry => ({
    spec,
    instances: Array.from({ length: spec.instances }, (_, i) => {
      const file = new RotatingLog(join(config.logDir, `${spec.name}-${i}.log`), spec.log, (e) => log.warn(`${spec.name}#${i}: log ${e.message}; output is dropped until it works again`));
      const onOutput = opts.onOutput;
      if (onOutput) file.tap((bytes) => onOutput(spec.name, i, bytes));
      return new Instance(spec, i, file, deps);
    }),
  });
  const all = async (e: Entry, type: "start" | "stop" | "restart") => {
    await Promise.all(e.instances.map((i) => i.command(type)));
  };
  const dispose = async (e: Entry) => {
    await Promise.all(e.instances.map((i) => i.dispose()));
  };
  const statusOf = (name?: string): InstanceStatus[] => {
    const now = clock();
    const procs = allProcesses();
    const rssOf = (pgid: number) => procs.filter((p) => p.pgrp === pgid && p.state !== "Z").reduce((n, p) => n + rssBytes(p.pid), 0);
    return entries.filter((e) => !name || e.spec.name === name).flatMap((e) => e.instances.map((i) => i.status(now, rssOf)));
  };
  const command = (name: string, type: "start" | "stop" | "restart") =>
    queue.run(name, async () => {
      guard();
      await all(find(name), type);
      return statusOf(name);
    });

  const reload = (next?: SuperviseConfig) =>
    queue.run("@reload", async () => {
      guard();
      const target = next ?? (await reread());
      if (target.socket !== config.socket) log.warn("a new `socket` takes effect when the supervisor is restarted");
      if (target.logDir !== config.logDir) log.warn("a new `log_dir` takes effect when the supervisor is restarted");
      const summary: ReloadSummary = { added: [], removed: [], changed: [], unchanged: [] };
      const wanted = new Set(target.processes.map((p) => p.name));
      const work: Promise<void>[] = [];
      for (const e of [...entries].reverse()) {
        if (wanted.has(e.spec.name)) continue;
        summary.removed.push(e.spec.name);
        work.push(queue.run(e.spec.name, async () => {
          await dispose(e);
          entries = entries.filter((x) => x !== e);
        }));
      }
      for (const spec of target.processes) {
        const old = entries.find((x) => x.spec.name === spec.name);
        if (old && sameSpec(old.spec, spec)) {
          summary.unchanged.push(spec.name);
          continue;
        }
        (old ? summary.changed : summary.added).push(spec.name);
        work.push(queue.run(spec.name, async () => {
          if (old) await dispose(old);
          const fresh = create(spec);
          entries = old ? entries.map((x) => (x === old ? fresh : x)) : [...entries, fresh];
          await all(fresh, "start");
        }));
      }
      await Promise.all(work);
      const order = target.processes.map((p) => p.name);
      entries.sort((a, b) => order.indexOf(a.spec.name) - order.indexOf(b.spec.name));
      const parts = (["changed", "added", "removed"] as const).filter((k) => summary[k].length).map((k) => `${k} ${summary[k].join(", ")}`);
      log.info(`reloaded: ${parts.join("; ") || "nothing changed"}`);
      return summary;
    });

  const reread = async (): Promise<SuperviseConfig> => {
    if (!opts.reloadConfig) throw new TempestError("E_USAGE", "this supervisor was not started from a file: there is nothing to re-read", { exitCode: 2 });
    const r = await opts.reloadConfig();
    for (const p of r.problems) if (p.severity === "warning") log.warn(formatProblem(p));
    if (!r.config) {
      const errors = r.problems.filter((p) => p.severity === "error");
      throw new TempestError(errors[0]?.code ?? "E_CONFIG_INVALID", `the config has ${errors.length} problem(s); nothing was changed`, { problems: errors, exitCode: 2 });
    }
    return r.config;
  };

  const stop = (): Promise<void> => {
    shuttingDown ??= (async () => {
      await queue.run("@reload", async () => {}); // let a reload in progress finish first
      for (const e of [...entries].reverse()) await queue.run(e.spec.name, () => dispose(e));
      await control?.close();
      deps.ledger?.remove();
      deps.watchdog?.close();
      markStopped();
    })();
    return shuttingDown;
  };

  const supervisor: Supervisor = {
    socket: config.socket,
    status: () => statusOf(),
    startProcess: (name) => command(name, "start"),
    stopProcess: (name) => command(name, "stop"),
    restartProcess: (name) => command(name, "restart"),
    signalProcess: async (name, raw) => {
      const signal = normalizeSignal(raw);
      if (!signal) throw new TempestError("E_USAGE", `${raw} is not a signal`, { hint: "e.g. SIGHUP, SIGUSR1, TERM", exitCode: 2 });
      return queue.run(name, async () => {
        guard();
        const sent = find(name).instances.filter((i) => i.signal(signal)).length;
        if (sent === 0) throw new TempestError("E_RUNTIME", `\`${name}\` has no running instance to signal`, { hint: `see \`tempest supervise status\``, exitCode: 1 });
        log.info(`${name}: ${signal} to ${sent} instance(s)`);
        return statusOf(name);
      });
    },
    reload,
    reopenLogs: () => {
      for (const e of entries) for (const i of e.instances) i.logFile.reopen();
      log.info("log files reopened");
    },
    tailLogs: (name, lines) => {
      const e = find(name);
      const many = e.instances.length > 1;
      return Buffer.concat(e.instances.map((i) => (many ? prefixLines(lastLines(i.logFile.path, lines), `[${i.key}] `) : lastLines(i.logFile.path, lines))));
    },
    followLogs: (name, onBytes, onEnd) => {
      const e = find(name);
      const many = e.instances.length > 1;
      let open = e.instances.length;
      const offs = e.instances.map((i) =>
        i.logFile.tap((b) => onBytes(many ? prefixLines(b, `[${i.key}] `) : b), () => {
          if (--open === 0) onEnd();
        }));
      return () => offs.forEach((off) => off());
    },
    stop,
    kill: () => {
      for (const e of entries) for (const i of e.instances) i.kill();
    },
    stopped,
  };

  const control: ControlServer | null = config.socket ? await listenControl(config.socket, controlHandler(supervisor)) : null;
  try {
    const ledgerFile = opts.ledgerFile !== undefined ? opts.ledgerFile : config.socket ? `${config.socket}.pids` : null;
    if (ledgerFile) {
      await stopLeftovers(ledgerFile, log);
      deps.ledger = new PidLedger(ledgerFile);
    }
    if (opts.watchdog !== false) {
      try {
        deps.watchdog = startWatchdog((why) => log.warn(why), { removeOnDeath: opts.removeOnDeath });
      } catch (e) {
        log.warn(`no watchdog (${(e as Error).message}): if this supervisor is SIGKILLed, its children keep running until the next start`);
      }
    }
    entries = config.processes.map(create);
  } catch (e) {
    await control?.close();
    throw e;
  }
  for (const e of entries) void all(e, "start");
  return supervisor;
}

/** `[name#1] ` before every line, so the instances of one process can share a terminal. */
function prefixLines(bytes: Uint8Array, prefix: string): Uint8Array {
  if (bytes.length === 0) return bytes;
  const p = Buffer.from(prefix);
  const parts: Uint8Array[] = [];
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl + 1;
    parts.push(p, bytes.subarray(start, end));
    start = end;
  }
  return Buffer.concat(parts);
}
