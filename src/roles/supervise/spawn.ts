import { accessSync, constants, statSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { resolve } from "node:path";
import type { ProcessSpec } from "../../core/supervise/config.ts";
import type { ExitStatus } from "../../core/supervise/policy.ts";
import { LineWriter, type RotatingLog } from "./log-file.ts";
import { tagVariable } from "./proc.ts";

export interface SpawnedChild {
  /** Also its process group id: every instance leads its own group. */
  pid: number;
  /** Inherited by every descendant through the environment (proc.ts `taggedPids`). */
  tag: string;
  exited: Promise<ExitStatus>;
  /** Both output streams ended: everything the group wrote is in the log. */
  drained: Promise<void>;
}

/** Why a spawn failed; `retryable` says whether waiting could help (EAGAIN) or not (ENOENT). */
export class SpawnError extends Error {
  constructor(readonly reason: string, readonly retryable: boolean) {
    super(reason);
  }
}

/**
 * Starts one instance: its own process group (detached), stdin from /dev/null, stdout and
 * stderr drained into its log for as long as anything in the group holds them open.
 */
export function spawnInstance(spec: ProcessSpec, instance: number, log: RotatingLog): SpawnedChild {
  if (!isDirectory(spec.cwd)) throw new SpawnError(`cwd ${spec.cwd} does not exist`, false);
  // When the supervisor stamps the lines, a tempest role under it must not stamp them again.
  const stamp = spec.log.timestamps ? { TEMPEST_LOG_TIMESTAMPS: "0" } : {};
  const tag = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
  const env: Record<string, string | undefined> = { ...process.env, ...stamp, ...spec.env, INSTANCE: String(instance), [tagVariable(tag)]: "1" };
  const exe = findExecutable(spec.command, env.PATH ?? "", spec.cwd);
  if (!exe) throw new SpawnError(`command not found: ${spec.command}`, false);
  let proc;
  try {
    proc = Bun.spawn([exe, ...spec.args], {
      cwd: spec.cwd,
      env,
      argv0: spec.command,
      stdin: spec.stdin ?? "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") throw new SpawnError(`command not found: ${spec.command}`, false);
    if (code === "EACCES") throw new SpawnError(`permission denied: ${exe}`, false);
    throw new SpawnError(`cannot spawn ${spec.command}: ${(e as Error).message}`, true);
  }
  const drained = Promise.all([drain(proc.stdout, new LineWriter(log, undefined, spec.log.timestamps)), drain(proc.stderr, new LineWriter(log, undefined, spec.log.timestamps))]).then(() => {});
  const child = proc;
  return {
    pid: child.pid,
    tag,
    exited: child.exited.then((): ExitStatus => {
      const sig = child.signalCode;
      if (sig === null || sig === undefined) return { code: child.exitCode, signal: null };
      return { code: null, signal: typeof sig === "number" ? signalName(sig) : sig };
    }),
    drained,
  };
}

function signalName(n: number): string {
  return Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
}

async function drain(stream: ReadableStream<Uint8Array>, out: LineWriter): Promise<void> {
  try {
    for await (const chunk of stream) out.push(chunk);
  } catch {
    // the pipe broke: nothing more to read
  }
  out.flush();
}

/** Like the shell: a name with a slash is a path (from cwd), otherwise it is looked up in PATH. */
function findExecutable(command: string, path: string, cwd: string): string | null {
  if (command.includes("/")) {
    const full = resolve(cwd, command);
    if (!isFile(full)) return null;
    try {
      accessSync(full, constants.X_OK);
    } catch {
      throw new SpawnError(`permission denied: ${full} is not executable`, false);
    }
    return full;
  }
  return Bun.which(command, { PATH: path, cwd });
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
