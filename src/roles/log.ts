import { formatWithOptions } from "node:util";
import { createConsola, type ConsolaInstance, type LogObject } from "consola";

/**
 * Roles log to stderr (DESIGN.md §1), one line per entry, tagged with who is speaking:
 * `[topology] listening on 127.0.0.1:4000`, `[split#1] warn: …`. Plain lines, because
 * `tempest run` interleaves several processes' logs and tests read them.
 */
export function createLogger(tag: string): ConsolaInstance {
  const stamp = logTimestamps();
  const level = process.env.TEMPEST_LOG_LEVEL === "debug" ? 4 : process.env.TEMPEST_LOG_LEVEL === "warn" ? 1 : 3;
  return createConsola({
    level,
    reporters: [{ log: (entry: LogObject) => process.stderr.write(`${stamp ? timestamp() : ""}${line(entry)}\n`) }],
  }).withTag(tag);
}

function line(entry: LogObject): string {
  const text = formatWithOptions({ colors: false, breakLength: Infinity }, ...entry.args);
  const level = entry.type === "error" || entry.type === "fatal" ? "error: " : entry.type === "warn" ? "warn: " : entry.type === "debug" ? "debug: " : "";
  return `${entry.tag ? `[${entry.tag}] ` : ""}${level}${text}`;
}

export type Logger = ConsolaInstance;

/**
 * `TEMPEST_LOG_TIMESTAMPS=1` (or `true`) puts an ISO time before every log line, PM2-style:
 * `2025-01-02T03:04:05.678Z [split#1] warn: …`. Off by default, so that lines stay as tests and
 * scripts read them; `tempest run` and `tempest supervise` honour it for the output they carry.
 */
export function logTimestamps(env: Record<string, string | undefined> = process.env): boolean {
  const v = env.TEMPEST_LOG_TIMESTAMPS?.trim().toLowerCase();
  return v === "1" || v === "true";
}

/** The prefix of a timestamped line: ISO time and one space. */
export function timestamp(now = new Date()): string {
  return `${now.toISOString()} `;
}
