/**
 * The SDK that user modules import as `tempest`. The compiled binary serves this very module
 * to the code it loads (see ./plugin.ts), so a user's project needs nothing installed.
 *
 * `defineX` return plain data tagged with `kind`: the binary recognises them by that tag,
 * never by `instanceof`, because the user's editor copy of the SDK may not be ours.
 */

export const TASK_KIND = "tempest.task" as const;
export const TOPOLOGY_KIND = "tempest.topology" as const;

export interface TaskLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

export interface TaskContext {
  /** Id of the root (source) message this delivery belongs to. */
  msgId: string;
  /** The edge this message travelled: [from, to]; `$source` for roots, `$join` for joins. */
  edge: [string, string];
  /** 1 on the first try of the root message, 2 on its first retry, ... */
  attempt: number;
  topology: string;
  task: string;
  log: TaskLogger;
}

export type Join = "union" | "all";

/** What a handler may return: one message, several, or nothing (ends the branch). */
export type HandlerResult<Out> = Out | Out[] | void | undefined | null;

export interface TaskOptions<In, Out> {
  handle(msg: In, ctx: TaskContext): HandlerResult<Out> | Promise<HandlerResult<Out>>;
  /** Fan-in of a task with several parents: `union` (default) or `all` (once per root). */
  join?: Join;
  /** Handler calls in flight per process (default 8; 1 runs them strictly one at a time). */
  concurrency?: number;
  /** Called once when the task process stops gracefully (e.g. to flush or report state). */
  close?(ctx: Omit<TaskContext, "msgId" | "edge" | "attempt">): void | Promise<void>;
}

export interface TaskDefinition<In = any, Out = any> extends TaskOptions<In, Out> {
  readonly kind: typeof TASK_KIND;
}

export interface TopologyOptions {
  name: string;
  tasks: Record<string, TaskDefinition>;
  /** Mermaid flowchart subset: `A --> B; A --> C & D;`. */
  graph: string;
  description?: string;
}

export interface TopologyDefinition extends TopologyOptions {
  readonly kind: typeof TOPOLOGY_KIND;
}

export function defineTask<In = any, Out = any>(options: TaskOptions<In, Out>): TaskDefinition<In, Out> {
  return { ...options, kind: TASK_KIND };
}

export function defineTopology(options: TopologyOptions): TopologyDefinition {
  return { ...options, kind: TOPOLOGY_KIND };
}

export function isTaskDefinition(v: unknown): v is TaskDefinition {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === TASK_KIND &&
    typeof (v as { handle?: unknown }).handle === "function";
}

export function isTopologyDefinition(v: unknown): v is TopologyDefinition {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === TOPOLOGY_KIND;
}
