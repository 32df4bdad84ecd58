import { formatWithOptions } from "node:util";
import { createConsola, type ConsolaInstance, type LogObject } from "consola";

/**
 * Roles log to stderr (DESIGN.md §1), one line per entry, tagged with who is speaking:
 * `[topology] listening on 127.0.0.1:4000`, `[split#1] warn: …`. Plain lines, because
 * `tempest run` interleaves several processes' logs and tests read them.
 */
export function createLogger(tag: string): ConsolaInstance {
  const level = process.env.TEMPEST_LOG_LEVEL === "debug" ? 4 : process.env.TEMPEST_LOG_LEVEL === "warn" ? 1 : 3;
  return createConsola({
    level,
    reporters: [{ log: (entry: LogObject) => process.stderr.write(`${line(entry)}\n`) }],
  }).withTag(tag);
}

function line(entry: LogObject): string {
  const text = formatWithOptions({ colors: false, breakLength: Infinity }, ...entry.args);
  const level = entry.type === "error" || entry.type === "fatal" ? "error: " : entry.type === "warn" ? "warn: " : entry.type === "debug" ? "debug: " : "";
  return `${entry.tag ? `[${entry.tag}] ` : ""}${level}${text}`;
}

export type Logger = ConsolaInstance;
