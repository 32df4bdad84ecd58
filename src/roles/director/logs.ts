import type { Redis } from "ioredis";

/** One line of a process's output, as agents ship it to `tempest:logs:{<topology>}`. */
export interface LogLine {
  id: string;
  at: number;
  agent: string;
  process: string;
  kind: string;
  task: string;
  instance: number;
  line: string;
}

export interface LogFilter {
  task?: string;
  instance?: number;
}

const PAGE = 1_000;
/** How far back a filtered read looks for its last N lines. */
const SCAN_LIMIT = 20_000;

/** Lines after a failure worth showing with it, when reading "around" a moment. */
const AROUND_AFTER_MS = 2_000;

/** The last `n` lines that match, oldest first, from every agent; with `aroundMs`, those up to shortly after that moment. */
export async function recentLogs(redis: Redis, key: string, filter: LogFilter, n: number, aroundMs?: number): Promise<LogLine[]> {
  const out: LogLine[] = [];
  let end = aroundMs === undefined ? "+" : String(Math.floor(aroundMs + AROUND_AFTER_MS));
  let scanned = 0;
  while (out.length < n && scanned < SCAN_LIMIT) {
    const page = (await redis.xrevrange(key, end, "-", "COUNT", PAGE)) as Array<[string, string[]]>;
    if (page.length === 0) break;
    scanned += page.length;
    for (const [id, fields] of page) {
      const l = toLine(id, fields);
      if (matches(l, filter)) out.push(l);
      if (out.length >= n) break;
    }
    const last = page[page.length - 1]![0];
    end = `(${last}`;
    if (page.length < PAGE) break;
  }
  return out.reverse();
}

/** The newest id in the stream, to follow from ("0-0" when empty). */
export async function lastLogId(redis: Redis, key: string): Promise<string> {
  const last = (await redis.xrevrange(key, "+", "-", "COUNT", 1)) as Array<[string, string[]]>;
  return last[0]?.[0] ?? "0-0";
}

/** Lines after `from`, waiting up to `blockMs` for some; on a connection of its own. */
export async function nextLogs(reader: Redis, key: string, from: string, filter: LogFilter, blockMs: number): Promise<{ lines: LogLine[]; last: string }> {
  const reply = (await reader.xread("COUNT", PAGE, "BLOCK", blockMs, "STREAMS", key, from)) as Array<[string, Array<[string, string[]]>]> | null;
  const entries = reply?.[0]?.[1] ?? [];
  const lines = entries.map(([id, f]) => toLine(id, f)).filter((l) => matches(l, filter));
  return { lines, last: entries.length ? entries[entries.length - 1]![0] : from };
}

function toLine(id: string, fields: string[]): LogLine {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return { id, at: Number(f.at) || Number(id.split("-")[0]), agent: f.agent ?? "", process: f.process ?? "", kind: f.kind ?? "", task: f.task ?? "", instance: Number(f.instance ?? 0), line: f.line ?? "" };
}

function matches(l: LogLine, f: LogFilter): boolean {
  // A fused worker's process is named after its first task; its other tasks tag their lines.
  if (f.task !== undefined && l.task !== f.task && !(f.task === "topology" && l.kind === "topology") && !l.line.startsWith(`[${f.task}#`)) return false;
  if (f.instance !== undefined && l.instance !== f.instance) return false;
  return true;
}
