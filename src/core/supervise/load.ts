import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, relative } from "node:path";
import type { Problem } from "../errors.ts";
import { checkValue, type Located } from "../config/schema.ts";
import { parseToml, type TomlDocument, locator } from "../config/toml.ts";
import {
  PROCESS_NAME, defaultLogDir, defaultSocketPath, defineProcess, expandPath, normalizeSignal,
  type ProcessSpec, type RestartMode, type SuperviseConfig,
} from "./config.ts";
import { superviseFileSchema } from "./schema.ts";

export interface SuperviseLoadResult {
  /** Present when there is no error (warnings allowed). */
  config?: SuperviseConfig;
  problems: Problem[];
}

/** The longest unix socket path Linux accepts (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Reads and checks a supervise file, collecting every problem with its file:line:col.
 * Relative paths (cwd, socket, log_dir) are taken from the file's folder.
 */
export function loadSuperviseConfig(file: string, env: Record<string, string | undefined>): SuperviseLoadResult {
  const shown = relative(process.cwd(), file) || file;
  if (!existsSync(file)) {
    return { problems: [{ file: shown, code: "E_CONFIG_INVALID", severity: "error", message: "config file not found", hint: "pass the path of a supervise TOML file" }] };
  }
  const parsed = parseToml(shown, readFileSync(file, "utf8"));
  if (!parsed.ok) return { problems: [parsed.problem] };
  return checkSuperviseDocument(parsed.doc, dirname(file), env);
}

export function checkSuperviseDocument(doc: TomlDocument, baseDir: string, env: Record<string, string | undefined>): SuperviseLoadResult {
  const where = locator(doc);
  const error = (path: string[], message: string, hint: string): Problem => ({ ...where.at(path), code: "E_CONFIG_INVALID", severity: "error", message, hint });
  const data = doc.data;
  if (data.process !== undefined && !Array.isArray(data.process)) {
    return { problems: [error(["process"], "`process` must be a list of entries", "write each entry as a [[process]] table (two brackets)")] };
  }
  const problems = checkValue(data, superviseFileSchema, [], where);
  if (problems.length) return { problems };

  const section = (data.supervise ?? {}) as { socket?: string; log_dir?: string; timestamps?: boolean };
  const stampAll = section.timestamps ?? ["1", "true"].includes(env.TEMPEST_LOG_TIMESTAMPS?.trim().toLowerCase() ?? "");
  const socket = section.socket !== undefined ? expandPath(section.socket, baseDir, env) : defaultSocketPath(env);
  if (section.socket !== undefined) problems.push(...checkSocketPath(socket, (m, h) => error(["supervise", "socket"], m, h)));
  const logDir = section.log_dir !== undefined ? expandPath(section.log_dir, baseDir, env) : defaultLogDir(env);

  const entries = (data.process ?? []) as Array<Record<string, unknown>>;
  if (entries.length === 0) {
    problems.push({ ...where.at([]), code: "E_CONFIG_INVALID", severity: "warning", message: "no [[process]] entries: nothing to supervise", hint: 'add [[process]] with name = "…" and command = "…"' });
  }
  const processes: ProcessSpec[] = [];
  const seen = new Map<string, number>();
  for (const [i, raw] of entries.entries()) {
    const at = (...k: string[]) => ["process", String(i), ...k];
    const before = problems.length;
    const name = raw.name as string | undefined;
    if (name === undefined) problems.push(error(at(), "this [[process]] has no `name`", 'add `name = "worker"`'));
    else if (!PROCESS_NAME.test(name)) problems.push(error(at("name"), `process name "${name}" is not usable as a file name`, "use letters, digits, `_`, `.` and `-`, starting with a letter or digit"));
    else if (seen.has(name)) problems.push(error(at("name"), `process \`${name}\` is defined twice`, `names are unique: rename one of them (the other is entry ${(seen.get(name) ?? 0) + 1})`));
    else seen.set(name, i);
    const command = raw.command as string | undefined;
    if (command === undefined || command.trim() === "") problems.push(error(command === undefined ? at() : at("command"), `process${name ? ` \`${name}\`` : ""} has no \`command\``, 'add `command = "node"` (the program; its arguments go in `args`)'));
    const stopSignal = raw.stop_signal === undefined ? undefined : normalizeSignal(raw.stop_signal as string);
    if (raw.stop_signal !== undefined && !stopSignal) problems.push(error(at("stop_signal"), `\`stop_signal\` "${raw.stop_signal as string}" is not a signal`, 'e.g. `stop_signal = "SIGTERM"` or "SIGINT"'));
    const backoff = (raw.backoff ?? {}) as Record<string, number | undefined>;
    if (problems.length > before) continue;
    const limit = (raw.limit ?? {}) as Record<string, number | undefined>;
    const log = (raw.log ?? {}) as { max_bytes?: number; keep?: number; timestamps?: boolean };
    const spec = defineProcess({
      name: name as string,
      command: command as string,
      args: raw.args as string[] | undefined,
      cwd: raw.cwd === undefined ? undefined : expandPath(raw.cwd as string, baseDir, env),
      env: raw.env as Record<string, string> | undefined,
      instances: raw.instances as number | undefined,
      restart: raw.restart as RestartMode | undefined,
      successCodes: raw.success_codes as number[] | undefined,
      backoff: dropUndefined({ initialMs: backoff.initial_ms, maxMs: backoff.max_ms, factor: backoff.factor, resetAfterMs: backoff.reset_after_ms }),
      limit: dropUndefined({ restarts: limit.restarts, windowMs: limit.window_ms }),
      stopSignal,
      stopTimeoutMs: raw.stop_timeout_ms as number | undefined,
      log: dropUndefined({ maxBytes: log.max_bytes, keep: log.keep, timestamps: log.timestamps ?? stampAll }),
    }, baseDir);
    if (spec.backoff.maxMs < spec.backoff.initialMs) {
      problems.push(error(at("backoff"), `backoff max_ms (${spec.backoff.maxMs}) is below initial_ms (${spec.backoff.initialMs})`, "max_ms caps the delay: make it at least initial_ms"));
      continue;
    }
    processes.push(spec);
  }
  if (problems.some((p) => p.severity === "error")) return { problems };
  return { config: { socket, logDir, processes }, problems };
}

/**
 * The control socket's folder may be missing (the supervisor creates it, mode 0700, as it does
 * the default one) but not be a file, nor sit under one; the path must fit in a sockaddr_un.
 */
export function checkSocketPath(socket: string, problem: (message: string, hint: string) => Problem): Problem[] {
  const dir = dirname(socket);
  const notFolder = firstNonFolder(dir);
  if (notFolder) return [problem(`the socket's folder ${dir} cannot be created: ${notFolder} is not a folder`, "point `socket` at a path under a folder")];
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) return [problem(`the socket path is ${Buffer.byteLength(socket)} bytes; unix sockets allow ${MAX_SOCKET_PATH}`, "choose a shorter path")];
  return [];
}

/** The nearest existing ancestor of `dir` (itself included) when it is not a folder. */
function firstNonFolder(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    try {
      return statSync(d).isDirectory() ? null : d;
    } catch {
      if (dirname(d) === d) return null;
    }
  }
}

function dropUndefined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

