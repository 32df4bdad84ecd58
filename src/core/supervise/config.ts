import type { BackoffRules as CoreBackoffRules } from "../backoff.ts";
import { resolveTempestHome } from "../tempest-home.ts";
import { constants } from "node:os";
import { isAbsolute, resolve } from "node:path";

/**
 * What `tempest supervise` runs, as plain data. The TOML loader (load.ts) builds it from a
 * file; the agent builds it in code with `defineProcess` (DESIGN.md §8, §10).
 */

export const RESTART_MODES = ["always", "on-failure", "never"] as const;
export type RestartMode = (typeof RESTART_MODES)[number];

/** The core formula's rules (core/backoff.ts) plus when a stable run resets them. */
export interface BackoffRules extends Omit<CoreBackoffRules, "jitter"> {
  /** A run at least this long starts the next backoff from `initialMs` again. */
  resetAfterMs: number;
}

export interface LimitRules {
  /** More crashes than this within `windowMs` and the instance is `fatal`. */
  restarts: number;
  windowMs: number;
}

export interface LogRules {
  maxBytes: number;
  /** Rotated files kept besides the current one. */
  keep: number;
  /** An ISO time before each line the program writes (`[supervise] timestamps`, TEMPEST_LOG_TIMESTAMPS=1). */
  timestamps: boolean;
}

/** One `[[process]]` entry with every default applied and every path absolute. */
export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  instances: number;
  restart: RestartMode;
  successCodes: number[];
  backoff: BackoffRules;
  limit: LimitRules;
  /** A signal name such as "SIGTERM". */
  stopSignal: string;
  stopTimeoutMs: number;
  log: LogRules;
  /** Only for an embedding role (`tempest run` with a stdin source): the supervisor's own stdin. */
  stdin?: "inherit";
}

export interface SuperviseConfig {
  /** The control socket; null runs without one (a supervisor embedded in another role). */
  socket: string | null;
  logDir: string;
  processes: ProcessSpec[];
}

/** What a caller must give; everything else has a default. */
export type ProcessInput = Pick<ProcessSpec, "name" | "command"> &
  Partial<Omit<ProcessSpec, "name" | "command" | "backoff" | "limit" | "log">> & {
    backoff?: Partial<BackoffRules>;
    limit?: Partial<LimitRules>;
    log?: Partial<LogRules>;
  };

export const PROCESS_DEFAULTS = {
  args: [] as string[],
  instances: 1,
  restart: "always" as RestartMode,
  successCodes: [0],
  backoff: { initialMs: 100, maxMs: 30_000, factor: 2, resetAfterMs: 60_000 },
  limit: { restarts: 10, windowMs: 60_000 },
  stopSignal: "SIGTERM",
  stopTimeoutMs: 10_000,
  log: { maxBytes: 10 * 1024 * 1024, keep: 5, timestamps: false },
} as const;

/** Names become log file names and socket arguments: keep them plain. */
export const PROCESS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;

/** A process spec from code, defaults filled in; `cwd` is resolved against `baseDir`. */
export function defineProcess(input: ProcessInput, baseDir = process.cwd()): ProcessSpec {
  const d = PROCESS_DEFAULTS;
  return {
    name: input.name,
    command: input.command,
    args: [...(input.args ?? d.args)],
    cwd: resolve(baseDir, input.cwd ?? "."),
    // Sorted, so that reordering keys in a file is not a change on reload.
    env: Object.fromEntries(Object.entries(input.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    instances: input.instances ?? d.instances,
    restart: input.restart ?? d.restart,
    successCodes: [...(input.successCodes ?? d.successCodes)],
    backoff: { ...d.backoff, ...input.backoff },
    limit: { ...d.limit, ...input.limit },
    stopSignal: normalizeSignal(input.stopSignal ?? d.stopSignal) ?? d.stopSignal,
    stopTimeoutMs: input.stopTimeoutMs ?? d.stopTimeoutMs,
    log: { ...d.log, ...input.log },
    ...(input.stdin ? { stdin: input.stdin } : {}),
  };
}

/** "TERM", "sigterm" or "SIGTERM" → "SIGTERM"; undefined when it names no signal. */
export function normalizeSignal(raw: string): string | undefined {
  const upper = raw.trim().toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  return name in constants.signals ? name : undefined;
}

export function tempestHome(env: Record<string, string | undefined>): string {
  return resolveTempestHome(undefined, env);
}

export function defaultSocketPath(env: Record<string, string | undefined>): string {
  return `${tempestHome(env)}/run/supervise.sock`;
}

export function defaultLogDir(env: Record<string, string | undefined>): string {
  return `${tempestHome(env)}/logs`;
}

/** `~/x` → `$HOME/x`; a relative path is taken from `baseDir`. */
export function expandPath(p: string, baseDir: string, env: Record<string, string | undefined>): string {
  const expanded = expandHome(p, env);
  return isAbsolute(expanded) ? expanded : resolve(baseDir, expanded);
}

function expandHome(p: string, env: Record<string, string | undefined>): string {
  const home = env.HOME || process.env.HOME || "/";
  return p === "~" ? home : p.startsWith("~/") ? `${home}${p.slice(1)}` : p;
}

/** Two specs run the same thing: a reload leaves such a process alone. */
export function sameSpec(a: ProcessSpec, b: ProcessSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
