import type { Schema } from "./schema.ts";

export const SOURCE_TYPES = ["file", "stdin", "generator", "redis-stream"] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** Which source keys each source type reads; the others are an error (a typo, usually). */
export const SOURCE_KEYS: Record<SourceType, readonly string[]> = {
  file: ["type", "path", "format"],
  stdin: ["type", "format"],
  generator: ["type", "count", "size", "rate"],
  "redis-stream": ["type", "uri", "key", "group", "consumer", "batch", "block_ms", "start", "field", "codec", "claim_idle_ms"],
};
export const REQUIRED_SOURCE_KEYS: Record<SourceType, readonly string[]> = {
  file: ["path"],
  stdin: [],
  generator: [],
  "redis-stream": ["key", "group"],
};

const int = (min = 0, max?: number): Schema => ({ type: "integer", min, max });
const str: Schema = { type: "string" };

export const sourceSchema: Schema = {
  type: "table",
  fields: {
    type: { type: "enum", values: SOURCE_TYPES },
    path: str,
    format: { type: "enum", values: ["jsonl", "lines"] },
    count: int(0),
    size: int(0),
    rate: { type: "number", min: 0 },
    uri: str,
    key: str,
    group: str,
    consumer: str,
    batch: int(1),
    block_ms: int(0),
    start: str,
    field: str,
    codec: { type: "enum", values: ["json", "cbor"] },
    claim_idle_ms: int(0),
  },
};

export const topologyRuntimeSchema: Schema = {
  type: "table",
  fields: {
    host: str,
    port: int(0, 65535),
    message: { type: "table", fields: { timeout: int(1), retry: int(0), max_pending: int(1), lease: int(1) } },
    source: sourceSchema,
    task: { type: "table", eachName: "task", each: { type: "table", fields: { workers: int(1), concurrency: int(1), isolate: { type: "boolean" } } } },
    dead_letter: { type: "table", fields: { path: str } },
  },
};

/** The whole of Runtime.toml. */
export const runtimeSchema: Schema = {
  type: "table",
  fields: {
    project: { type: "table", fields: { tempest_home: str } },
    /** Push counters and timings to a statsd server (DESIGN.md §12): `statsd = "host:port"`. */
    stats: { type: "table", fields: { statsd: str, prefix: str } },
    topology: { type: "table", eachName: "topology", each: topologyRuntimeSchema },
  },
};

export const DEFAULTS = {
  tempest_home: "~/.tempest",
  message: { timeout: 30_000, retry: 3, max_pending: 10_000 },
  /** A lease lapses after this much silence from its worker; never more than half the timeout. */
  leaseMs: 5_000,
  workers: 1,
  /** Handler calls in flight per task process: async handlers overlap, so one slow call does not hold up the rest. */
  concurrency: 8,
} as const;
