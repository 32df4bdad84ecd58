import { isAbsolute, resolve } from "node:path";
import type { Problem, TempestError } from "../errors.ts";
import { parseRedisUrl } from "../config/redis-url.ts";
import type { Located } from "../config/schema.ts";
import { DEFAULTS, REQUIRED_SOURCE_KEYS, SOURCE_KEYS, SOURCE_TYPES, type SourceType } from "../config/runtime-schema.ts";
import type { SourceConfig, TopologyRuntime } from "./model.ts";

const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0";

/**
 * Fills defaults into one topology's runtime table (already schema-checked and overridden) and
 * checks what the schema cannot: the keys each source type takes, and the ones it needs.
 */
export function resolveTopologyRuntime(
  root: string,
  name: string,
  taskNames: string[],
  raw: Record<string, unknown>,
  where: Located,
  env: Record<string, string | undefined>,
): { runtime: TopologyRuntime; problems: Problem[] } {
  const problems: Problem[] = [];
  const message = (raw.message ?? {}) as Partial<TopologyRuntime["message"]>;
  const tasks = (raw.task ?? {}) as Record<string, { workers?: number; concurrency?: number; isolate?: boolean }>;
  const deadLetter = (raw.dead_letter ?? {}) as { path?: string };
  const runtime: TopologyRuntime = {
    host: (raw.host as string | undefined) ?? "127.0.0.1",
    port: (raw.port as number | undefined) ?? 0,
    message: { ...DEFAULTS.message, lease: 0, ...message },
    task: Object.fromEntries(taskNames.map((t) => [t, { workers: tasks[t]?.workers ?? DEFAULTS.workers, concurrency: tasks[t]?.concurrency, ...(tasks[t]?.isolate ? { isolate: true } : {}) }])),
    dead_letter: { path: inProject(root, deadLetter.path ?? `dead-letter/${name}.jsonl`) },
    stats: { prefix: "tempest" },
  };
  const m = runtime.message;
  if (message.lease === undefined) m.lease = Math.max(1, Math.min(DEFAULTS.leaseMs, Math.floor(m.timeout / 2)));
  else if (m.lease >= m.timeout) {
    problems.push({ file: where.file, ...where.locate(["message", "lease"]), code: "E_CONFIG_INVALID", severity: "error", message: `[topology.${name}.message] lease = ${m.lease} is not below timeout = ${m.timeout}`, hint: "the lease is how long a silent worker keeps its work before it moves to another; it must end before the work times out (default: half the timeout, at most 5000)" });
  }
  if (raw.source !== undefined) {
    const source = raw.source as Record<string, unknown>;
    const at = (key: string) => ({ file: where.file, ...where.locate(["source", key]) });
    const type = source.type as SourceType | undefined;
    if (type === undefined) {
      problems.push({ ...at("type"), code: "E_CONFIG_INVALID", severity: "error", message: `[topology.${name}.source] has no \`type\``, hint: `set type = one of ${SOURCE_TYPES.map((t) => `"${t}"`).join(", ")}` });
    } else {
      for (const key of Object.keys(source)) {
        if (!SOURCE_KEYS[type].includes(key)) {
          problems.push({ ...at(key), code: "E_CONFIG_INVALID", severity: "error", message: `\`${key}\` is not a setting of a ${type} source`, hint: `a ${type} source takes: ${SOURCE_KEYS[type].join(", ")}` });
        }
      }
      for (const key of REQUIRED_SOURCE_KEYS[type]) {
        if (source[key] === undefined) {
          problems.push({ ...at("type"), code: "E_CONFIG_INVALID", severity: "error", message: `a ${type} source needs \`${key}\``, hint: `add ${key} = "…" under [topology.${name}.source]` });
        }
      }
      runtime.source = sourceWithDefaults(root, type, source, env);
      if (runtime.source.type === "redis-stream") {
        try {
          parseRedisUrl(runtime.source.uri, runtime.source.uriFrom === "TEMPEST_REDIS_URL" ? "uri (from TEMPEST_REDIS_URL)" : "uri");
        } catch (e) {
          const err = e as TempestError;
          const where = runtime.source.uriFrom === "TEMPEST_REDIS_URL" ? at("type") : at("uri");
          problems.push({ ...where, code: "E_CONFIG_INVALID", severity: "error", message: `[topology.${name}.source] ${err.message}`, hint: err.hint });
        }
      }
    }
  }
  return { runtime, problems };
}

/** The `[stats]` table, shared by every topology: `statsd = "host:port"` and `prefix`. */
export function resolveStats(raw: { statsd?: string; prefix?: string }, file: string, locate: (key: string) => { line?: number; col?: number }): { stats: TopologyRuntime["stats"]; problems: Problem[] } {
  const stats: TopologyRuntime["stats"] = { prefix: raw.prefix ?? "tempest" };
  if (raw.statsd === undefined || raw.statsd === "") return { stats, problems: [] };
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(raw.statsd);
  if (!m || Number(m[2]) > 65535) {
    return { stats, problems: [{ file, ...locate("statsd"), code: "E_CONFIG_INVALID", severity: "error", message: `[stats] statsd ${JSON.stringify(raw.statsd)} is not HOST:PORT`, hint: 'e.g. statsd = "127.0.0.1:8125"' }] };
  }
  stats.statsd = { host: m[1]!, port: Number(m[2]) };
  return { stats, problems: [] };
}

function sourceWithDefaults(root: string, type: SourceType, s: Record<string, unknown>, env: Record<string, string | undefined>): SourceConfig {
  switch (type) {
    case "file":
      return { type, path: inProject(root, (s.path as string) ?? ""), format: (s.format as "jsonl" | "lines") ?? "jsonl" };
    case "stdin":
      return { type, format: (s.format as "jsonl" | "lines") ?? "jsonl" };
    case "generator":
      return { type, count: (s.count as number) ?? 0, size: (s.size as number) ?? 64, rate: (s.rate as number) ?? 0 };
    case "redis-stream":
      return {
        type,
        // Runtime.toml (or --set) > TEMPEST_REDIS_URL > default: the same chain as `status`.
        uri: (s.uri as string | undefined) ?? (env.TEMPEST_REDIS_URL || DEFAULT_REDIS_URL),
        uriFrom: s.uri !== undefined ? "settings" : env.TEMPEST_REDIS_URL ? "TEMPEST_REDIS_URL" : "default",
        key: s.key as string,
        group: s.group as string,
        consumer: s.consumer as string | undefined,
        batch: (s.batch as number) ?? 100,
        block_ms: (s.block_ms as number) ?? 1000,
        start: (s.start as string) ?? "0",
        field: s.field as string | undefined,
        codec: (s.codec as "json" | "cbor") ?? "json",
        claim_idle_ms: s.claim_idle_ms as number | undefined,
      };
  }
}

function inProject(root: string, p: string): string {
  return isAbsolute(p) ? p : resolve(root, p);
}
