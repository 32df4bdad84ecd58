import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { TempestError, formatProblem } from "../../core/errors.ts";
import { loadSuperviseConfig } from "../../core/supervise/load.ts";
import { createLogger, type Logger } from "../log.ts";
import { startSupervisor } from "./supervisor.ts";

export interface SuperviseRoleOptions {
  configFile: string;
  env: Record<string, string | undefined>;
  log?: Logger;
}

/**
 * `tempest supervise CONFIG` in the foreground, for a terminal or systemd: SIGTERM/SIGINT stop
 * every process (last entry first) and resolve 0; a second one SIGKILLs them all and resolves 1;
 * SIGHUP reloads the file; SIGUSR2 reopens the log files. Returns the exit code.
 */
export async function runSuperviseRole(opts: SuperviseRoleOptions): Promise<number> {
  const log = opts.log ?? createLogger("supervise");
  const load = () => loadSuperviseConfig(opts.configFile, opts.env);
  const first = load();
  if (!first.config) {
    const errors = first.problems.filter((p) => p.severity === "error");
    throw new TempestError(errors[0]?.code ?? "E_CONFIG_INVALID", `${errors.length} problem(s) in ${opts.configFile}`, { problems: errors });
  }
  for (const w of first.problems) console.error(formatProblem(w));
  const config = first.config;
  if (config.socket) makeSocketFolder(config.socket);

  const sup = await startSupervisor(config, { log, reloadConfig: load });
  const instances = config.processes.reduce((n, p) => n + p.instances, 0);
  log.info(`supervising ${config.processes.length} process(es), ${instances} instance(s); control socket ${config.socket}; logs in ${config.logDir}`);

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onStop = (sig: NodeJS.Signals) => {
      if (++signals === 1) {
        log.info(`${sig}: stopping every process`);
        void sup.stop();
        return;
      }
      log.warn(`${sig} again: SIGKILL to every process`);
      sup.kill();
    };
    const onHup = () => {
      sup.reload().catch((e: unknown) => {
        const err = e as TempestError;
        log.error(`reload failed: ${err.message}${err.hint ? ` — ${err.hint}` : ""}`);
        for (const p of err.problems ?? []) log.error(formatProblem(p));
      });
    };
    const onUsr2 = () => sup.reopenLogs();
    process.on("SIGTERM", onStop);
    process.on("SIGINT", onStop);
    process.on("SIGHUP", onHup);
    process.on("SIGUSR2", onUsr2);
    void sup.stopped.then(() => {
      process.off("SIGTERM", onStop);
      process.off("SIGINT", onStop);
      process.off("SIGHUP", onHup);
      process.off("SIGUSR2", onUsr2);
      log.info("stopped");
      resolve(signals > 1 ? 1 : 0);
    });
  });
}

/** The socket's folder, default or configured, is created when missing: mode 0700, like ~/.ssh. */
function makeSocketFolder(socket: string): void {
  try {
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new TempestError("E_ROLE_START", `cannot create the socket's folder ${dirname(socket)}: ${(e as Error).message}`, { hint: "point `socket` in [supervise] at a folder you can write to", exitCode: 1 });
  }
}
