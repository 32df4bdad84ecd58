import type { Dag } from "../graph/dag.ts";
import type { SourceType } from "../config/runtime-schema.ts";

export type Join = "union" | "all";

/** Where a task's handler lives: a module and the property path of its definition in it. */
export interface TaskInfo {
  name: string;
  join: Join;
  concurrency?: number;
  module: string;
  /** e.g. ["default"], ["split"] or, for a module topology, ["default", "tasks", "split"]. */
  select: string[];
}

export interface Topology {
  name: string;
  /** The member file's project name that declares it. */
  member: string;
  /** The file that defines it: the member TOML, or the topology module. */
  file: string;
  kind: "toml" | "module";
  graph: string;
  dag: Dag;
  tasks: TaskInfo[];
  runtime: TopologyRuntime;
}

export interface Member {
  file: string;
  name: string;
  description?: string;
  version?: string;
}

export type SourceConfig =
  | { type: "file"; path: string; format: "jsonl" | "lines" }
  | { type: "stdin"; format: "jsonl" | "lines" }
  | { type: "generator"; count: number; size: number; rate: number }
  | {
      type: "redis-stream";
      uri: string;
      /** Where `uri` came from (DESIGN.md §1 chain): the settings (Runtime.toml, TEMPEST__…, --set), TEMPEST_REDIS_URL, or the built-in default. */
      uriFrom?: "settings" | "TEMPEST_REDIS_URL" | "default";
      key: string;
      group: string;
      consumer?: string;
      batch: number;
      block_ms: number;
      start: string;
      field?: string;
      codec: "json" | "cbor";
      claim_idle_ms?: number;
    };

export interface TopologyRuntime {
  host: string;
  port: number;
  /** `lease`: ms of silence from a worker before its work moves elsewhere (below `timeout`). */
  message: { timeout: number; retry: number; max_pending: number; lease: number };
  source?: SourceConfig;
  /** `isolate`: the task gets processes of its own instead of sharing a fused worker. */
  task: Record<string, { workers: number; concurrency?: number; isolate?: boolean }>;
  dead_letter: { path: string };
  /** `[stats]`: where to push statsd figures (none when unset) and the metric name prefix. */
  stats: { statsd?: { host: string; port: number }; prefix: string };
}

export interface Project {
  root: string;
  projectFile: string;
  runtimeFile?: string;
  tempestHome: string;
  members: Member[];
  topologies: Topology[];
}

export type { SourceType };
