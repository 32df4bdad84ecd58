/**
 * The cluster's shared vocabulary (DESIGN.md §8–§9): what the director writes, what an agent
 * reads and reports. Plain JSON-able data; every document lives in Redis under a key from
 * core/registry/keys.ts, so any director can pick up where another left off.
 */
import type { Phase, ExitStatus } from "../supervise/policy.ts";

/** `tempest:agent:<name>`, refreshed by the agent's heartbeat with a TTL. */
export interface AgentRecord {
  name: string;
  /** The address its processes listen on and are reached at (`--advertise`). */
  host: string;
  slots: number;
  used: number;
  version: string;
  pid: number;
  started_at: number;
  heartbeat_at: number;
}

export type ProcessKind = "topology" | "task";

/** One process a topology needs (its process plan, core/cluster/plan.ts). */
export interface PlannedProcess {
  /** Stable across schedules and agents: `<topology>` for the topology, `<topology>.<task>.<i>` for a task instance. */
  id: string;
  kind: ProcessKind;
  topology: string;
  task?: string;
  instance: number;
  /** The deployed version it runs. */
  version: string;
  /** The executable's file name in the build (`<project>-<name>-<version>`) and its content hash. */
  executable: string;
  sha256: string;
  /** How long the process may take to drain on stop before SIGKILL (the topology's message timeout plus a margin). */
  stop_timeout_ms: number;
}

/**
 * `tempest:assign:<agent>`: the agent's WHOLE desired state. Generations grow across all
 * agents (one counter); an agent applies the newest it has seen and ignores older ones, so a
 * stale director can never undo a newer decision (fencing).
 */
export interface AssignmentDoc {
  agent: string;
  generation: number;
  processes: PlannedProcess[];
  /** The director that wrote it (for status), and when (ms since epoch). */
  director: string;
  written_at: number;
}

/** One process as its agent reports it in `tempest:agent-procs:<agent>`. */
export interface ProcessReport {
  id: string;
  kind: ProcessKind;
  topology: string;
  task?: string;
  instance: number;
  version: string;
  state: Phase;
  pid: number | null;
  restarts: number;
  last_exit: ExitStatus | null;
  uptime_ms: number | null;
  reason: string | null;
}

export interface AgentProcessesDoc {
  agent: string;
  /** The generation the agent has applied. */
  generation: number;
  at: number;
  processes: ProcessReport[];
  /** Assigned processes the agent could not start (e.g. an artifact whose sha256 did not match). */
  problems?: Array<{ id: string; reason: string }>;
}

/** One executable of a deployment, content-addressed. */
export interface DeployedExecutable {
  executable: string;
  sha256: string;
  size: number;
}

/** `tempest:deploy:{<topology>}:<version>`: immutable once written. */
export interface Deployment {
  topology: string;
  version: string;
  project: string;
  deployed_at: number;
  graph: string;
  edges: Array<[string, string]>;
  topology_executable: DeployedExecutable;
  tasks: Array<{ name: string; workers: number; join: "union" | "all"; executable: DeployedExecutable; isolate?: boolean }>;
  /** The topology's message timeout (ms): how long a stop may drain. */
  timeout_ms: number;
}

export type DesiredState = "running" | "stopped";

/** `tempest:topology:{<topology>}`: which version should run, and whether it should. */
export interface TopologyState {
  name: string;
  version: string;
  desired: DesiredState;
  changed_at: number;
  /** Live `scale`: instance counts that override the deployment's `workers`, by task. */
  workers?: Record<string, number>;
  /** A rolling reload in progress: `to` starts beside `from`, then `from` drains and exits. */
  reload?: ReloadState;
}

export interface ReloadState {
  from: string;
  to: string;
  /** starting: `to` comes up beside `from`; draining: `from`'s topology stops reading, drains, exits, then its tasks. */
  phase: "starting" | "draining";
  since: number;
}

/** What `status` and the API show for a topology. */
export type TopologyStatus = "stopped" | "pending" | "running" | "stopping";

/** The last schedule, `tempest:cluster:schedule`: placement and what could not be placed. */
export interface ScheduleDoc {
  generation: number;
  at: number;
  director: string;
  placements: Record<string, PlannedProcess[]>;
  pending: PendingTopology[];
  /** Running with fewer instances than planned (no room for them), with the reason. */
  degraded?: PendingTopology[];
}

export interface PendingTopology {
  topology: string;
  reason: string;
}
