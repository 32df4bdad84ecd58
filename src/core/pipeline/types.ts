/**
 * Data types of the pipeline state machine (DESIGN.md §5). Everything here is plain data:
 * events go in, effects come out, and the topology role carries the effects out.
 */

import type { BackoffRules } from "../backoff.ts";

/** One task of a topology, as the validated DAG describes it. */
export interface TaskSpec {
  name: string;
  /** Parent task names; this order is the order of a join="all" payload. Empty for a root task. */
  parents: string[];
  children: string[];
  /** Fan-in: "union" delivers each parent output separately; "all" joins them once per root. */
  join: "union" | "all";
}

export interface PipelineConfig {
  topology: string;
  /** A validated DAG (no cycles); roots = tasks with no parents. */
  tasks: TaskSpec[];
  /**
   * How long one delivery may be worked on: a lease not answered within this of being leased
   * fails its root (reason "timed out after N ms"). Time spent waiting (in a queue, for a
   * session, for a join) does not count.
   */
  timeoutMs: number;
  /** Retries after the first attempt; then dead-letter. */
  retry: number;
  /** Root messages in flight (including those waiting for a retry). */
  maxPending: number;
  /**
   * Source messages read ahead of what the root tasks' sessions can take right now, so work is
   * at hand when credits come back (default 64). The source is read only as fast as tasks take
   * work: never more than their free credits plus this, and nothing while no session is open.
   */
  readAhead?: number;
  /** After a crash, how long suspects may hold their unit up (default SUSPECT_WAIT_MS; tests shorten it). */
  suspectWaitMs?: number;
  /** Delay before retry k (k = 1..): `backoff(rules, k)` of core/backoff.ts. */
  backoff: BackoffRules;
  /**
   * A lease lapses when its session has been silent (no frame at all) for this long: the
   * delivery goes back to the queue for another session, and the late answer is ignored. Any
   * frame renews every lease of its session, so a live but busy worker keeps its work.
   */
  leaseMs: number;
  /** Tasks that share a worker process (DESIGN.md §5, core/pipeline/fusion.ts); default: each task alone. */
  units?: string[][];
  /** Builds the payload of a join="all" delivery. */
  encodeJoin: (parts: Array<[string, Uint8Array[]]>) => Uint8Array;
}

export type Event =
  /** A new root message; attempt = number of the first attempt here (default 1; a redis entry re-read after a crash may start at 3). */
  | { type: "source"; id: string; payload: Uint8Array; attempt?: number }
  /** `task`: any task of the worker's unit (its first one, by convention). */
  | { type: "session_open"; session: string; task: string }
  /** The session can take n more deliveries. Answers do not return credits by themselves. */
  | { type: "credits"; session: string; n: number }
  /** The session is alive (a heartbeat): its leases are renewed. */
  | { type: "heard"; session: string }
  /**
   * `outputs` leave the worker; `producers[i]` is the task index (TaskSpec order) that made
   * outputs[i] (absent: the delivery's own task made them all).
   */
  | { type: "done"; session: string; delivery: number; outputs: Uint8Array[]; producers?: ArrayLike<number> }
  /**
   * `task`: the index of the task that failed, when it is not the delivery's own (a fused
   * worker). `where`: the user's stack frames (file:line:col, innermost first, `; `-separated).
   */
  | { type: "fail"; session: string; delivery: number; error: string; where?: string; task?: number }
  | { type: "session_closed"; session: string }
  | { type: "tick" };

export type Effect =
  /** Send this delivery to the session. `edge` arrays are shared between effects: do not mutate them. */
  | { type: "deliver"; session: string; delivery: number; rootId: string; edge: [string, string]; attempt: number; payload: Uint8Array }
  /** Root complete: ack it at the source. `since`: the `now` it was first read. */
  | { type: "ack"; rootId: string; since: number }
  /** Give up: write it to the dead-letter destination, then ack. */
  | { type: "dead_letter"; rootId: string; payload: Uint8Array; error: string; attempts: AttemptRecord[] }
  /** Informational (logs/stats): the root failed and attempt number `attempt` will run after `delayMs`. */
  | { type: "retry"; rootId: string; attempt: number; error: string; delayMs: number; where?: string };

export interface AttemptRecord {
  attempt: number;
  error: string;
  /** The `now` of the step that failed the attempt. */
  at: number;
  /** The user's stack frames that threw, when a task reported them. */
  where?: string;
}

export interface TaskStats {
  /** Deliveries waiting for a session. */
  queued: number;
  /** Deliveries leased to a session, not answered yet. */
  inflight: number;
  /** Valid `done` results accepted for deliveries that entered at this task. */
  handled: number;
  /** Valid `fail` results accepted that name this task (stale ones are not counted). */
  errors: number;
}

export interface PipelineStats {
  roots: {
    /** Roots in flight, including those waiting for a retry. */
    inflight: number;
    /** Roots acked as complete. */
    completed: number;
    /** Retries scheduled (one per `retry` effect). */
    retried: number;
    /** Roots given up (one per `dead_letter` effect). */
    deadLettered: number;
    /** Root attempts failed, by a task error or a timeout (= retried + deadLettered). */
    failed: number;
  };
  tasks: Record<string, TaskStats>;
}
