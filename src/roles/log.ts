import { formatWithOptions } from "node:util";
import { createConsola, type ConsolaInstance, type LogObject } from "consola";

/**
 * Roles log to stderr (DESIGN.md §1), one line per entry, tagged with who is speaking:
 * `[topology] listening on 127.0.0.1:4000`, `[split#1] warn: …`. Plain lines, because
 * `tempest run` interleaves several processes' logs and tests read them.
 */
export function createLogger(tag: string, out: TextSink = process.stderr): ConsolaInstance {
  const stamp = logTimestamps();
  const level = process.env.TEMPEST_LOG_LEVEL === "debug" ? 4 : process.env.TEMPEST_LOG_LEVEL === "warn" ? 1 : 3;
  return createConsola({
    level,
    reporters: [{ log: (entry: LogObject) => out.write(`${stamp ? timestamp() : ""}${line(entry)}\n`) }],
  }).withTag(tag);
}

/**
 * Where whole log lines go: stderr, or something in front of it that must see every line
 * (`tempest run`'s progress line, cleared before a log line and drawn again after it).
 */
export interface TextSink {
  write(text: string): unknown;
}

function line(entry: LogObject): string {
  const text = formatWithOptions({ colors: false, breakLength: Infinity }, ...entry.args);
  const level = entry.type === "error" || entry.type === "fatal" ? "error: " : entry.type === "warn" ? "warn: " : entry.type === "debug" ? "debug: " : "";
  return `${entry.tag ? `[${entry.tag}] ` : ""}${level}${text}`;
}

export type Logger = ConsolaInstance;

/**
 * Whether log lines start with an ISO time: when stderr is not a terminal (a file, a journal, a
 * pipe), as PM2 stamps its own log, unless TEMPEST_LOG_TIMESTAMPS says otherwise (`1`/`true`
 * always, `0`/`false` never). On a terminal a person sees the time anyway.
 */
export function logTimestamps(env: Record<string, string | undefined> = process.env, isTTY = Boolean(process.stderr.isTTY)): boolean {
  const v = env.TEMPEST_LOG_TIMESTAMPS?.trim().toLowerCase();
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  return !isTTY;
}

/** The prefix of a timestamped line: ISO time and one space. */
export function timestamp(now = new Date()): string {
  return `${now.toISOString()} `;
}
