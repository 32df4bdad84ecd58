import type { Redis } from "ioredis";
import type { PlannedProcess } from "../../core/cluster/model.ts";
import type { Keys } from "../../core/registry/keys.ts";
import type { Logger } from "../log.ts";

/** One line in `tempest:logs:{<topology>}`. */
interface LogEntry {
  stream: string;
  fields: string[];
}

export interface LogShipper {
  /** The supervisor's `onOutput`: bytes as the process wrote them. */
  push(p: PlannedProcess, bytes: Uint8Array): void;
  /** Sends what is buffered (best effort, bounded in time); then stops. */
  close(): Promise<void>;
}

const FLUSH_MS = 100;
/** While Redis is away at most this many lines wait; older ones are dropped and counted. */
const BUFFER_CAP = 10_000;
const STREAM_MAXLEN = 10_000;
const PER_PIPELINE = 1_000;
/** A line longer than this is cut (a log stream is not a blob store). */
const MAX_LINE = 16 * 1024;

/**
 * Ships every complete line the agent's processes write to the topology's capped log stream
 * (DESIGN.md §8), batched in one pipeline every 100 ms. Nothing is dropped while Redis is up;
 * while it is away the buffer is capped and the drop is said once, and counted when it ends.
 */
export function startLogShipper(opts: { redis: Redis; keys: Keys; agent: string; log: Logger }): LogShipper {
  const partial = new Map<string, string>();
  let buffer: LogEntry[] = [];
  let dropped = 0;
  let flushing: Promise<void> | null = null;
  const decoder = new TextDecoder();

  const add = (p: PlannedProcess, line: string) => {
    if (line.length > MAX_LINE) line = `${line.slice(0, MAX_LINE)}…`;
    buffer.push({
      stream: opts.keys.logs(p.topology),
      fields: ["at", String(Date.now()), "agent", opts.agent, "process", p.id, "kind", p.kind, "task", p.task ?? "", "instance", String(p.instance), "line", line],
    });
    if (buffer.length > BUFFER_CAP) {
      const over = buffer.length - BUFFER_CAP;
      if (dropped === 0) opts.log.warn(`Redis is not taking log lines: keeping the newest ${BUFFER_CAP}, dropping older ones until it is back`);
      dropped += over;
      buffer = buffer.slice(over);
    }
  };

  const flush = async () => {
    while (buffer.length > 0 && opts.redis.status === "ready") {
      const batch = buffer.slice(0, PER_PIPELINE);
      const pipe = opts.redis.pipeline();
      for (const e of batch) pipe.xadd(e.stream, "MAXLEN", "~", STREAM_MAXLEN, "*", ...e.fields);
      let ok = false;
      try {
        const results = (await pipe.exec()) ?? [];
        ok = results.every(([err]) => !err);
      } catch {
        ok = false;
      }
      if (!ok) return; // kept in the buffer; the next tick tries again
      buffer.splice(0, batch.length);
      if (dropped > 0 && buffer.length === 0) {
        opts.log.warn(`${dropped} log line(s) were dropped while Redis was away`);
        dropped = 0;
      }
    }
  };
  const tick = () => {
    if (!flushing && buffer.length > 0) flushing = flush().finally(() => (flushing = null));
  };
  const timer = setInterval(tick, FLUSH_MS);

  return {
    push(p, bytes) {
      const text = (partial.get(p.id) ?? "") + decoder.decode(bytes);
      const lines = text.split("\n");
      const rest = lines.pop() ?? "";
      for (const l of lines) add(p, l.endsWith("\r") ? l.slice(0, -1) : l);
      if (rest) partial.set(p.id, rest.length > MAX_LINE ? (add(p, rest), "") : rest);
      else partial.delete(p.id);
    },
    async close() {
      clearInterval(timer);
      await flushing;
      await Promise.race([flush(), Bun.sleep(1_000)]);
    },
  };
}
