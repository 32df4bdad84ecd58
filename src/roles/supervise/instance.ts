import type { ProcessSpec } from "../../core/supervise/config.ts";
import { initialState, step, type ExitStatus, type InstanceState, type Phase, type PolicyAction, type PolicyEvent } from "../../core/supervise/policy.ts";
import type { Logger } from "../log.ts";
import { signalGroup, signalTree, sweepGroup } from "./group.ts";
import type { RotatingLog } from "./log-file.ts";
import type { PidLedger } from "./pid-ledger.ts";
import { procStat } from "./proc.ts";
import { SpawnError, spawnInstance, type SpawnedChild } from "./spawn.ts";
import type { Watchdog } from "./watchdog.ts";

/** One row of `tempest supervise status`. */
export interface InstanceStatus {
  name: string;
  instance: number;
  state: Phase;
  pid: number | null;
  uptime_ms: number | null;
  restarts: number;
  last_exit: ExitStatus | null;
  next_retry_ms: number | null;
  /** Resident memory of the whole process group. */
  rss_bytes: number | null;
  /** Why it is fatal or exited. */
  reason: string | null;
}

export interface InstanceDeps {
  log: Logger;
  watchdog: Watchdog | null;
  ledger: PidLedger | null;
  /** Monotonic milliseconds. */
  clock: () => number;
  /** Hears every phase change, after it is logged (an embedding role reacts to `fatal`). */
  onChange?: (instance: Instance) => void;
}

/** A settled instance is not in the middle of a start or a stop. */
const settled = (p: Phase) => p !== "starting" && p !== "stopping";

const DRAIN_GRACE_MS = 1_000;

/**
 * The I/O around one instance's restart policy: it feeds events to `step` one at a time and
 * carries out the actions (spawn, signal the group, one timer). Every state change goes
 * through `dispatch`, and each one is logged there.
 */
export class Instance {
  readonly key: string;
  private state: InstanceState;
  private child: SpawnedChild | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly inbox: PolicyEvent[] = [];
  private dispatching = false;
  private readonly waiters = new Set<() => void>();
  /** Resolves when the last child's output has all been written; disposal waits for it. */
  private drained: Promise<void> = Promise.resolve();
  /** The phase the log last reported (`starting` is only reported together with `running`). */
  private shown: Phase = "stopped";

  constructor(readonly spec: ProcessSpec, readonly index: number, readonly logFile: RotatingLog, private readonly deps: InstanceDeps) {
    this.key = `${spec.name}#${index}`;
    this.state = initialState(spec, crypto.getRandomValues(new Uint32Array(1))[0]);
  }

  get phase(): Phase {
    return this.state.phase;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** A command (start, stop, restart); resolves once the instance has settled again. */
  async command(type: "start" | "stop" | "restart"): Promise<void> {
    this.dispatch({ type });
    await this.until(() => settled(this.state.phase));
  }

  /** Sends a signal to the instance's group; false when nothing runs. */
  signal(signal: string): boolean {
    return this.child !== null && signalGroup(this.child.pid, signal);
  }

  /** The supervisor is being forced down: no grace. */
  kill(): void {
    try {
      if (this.child) signalTree(this.child.pid, this.child.tag, "SIGKILL");
    } catch {
      // not ours to kill (EPERM): nothing more to do in a hurry
    }
  }

  status(now: number, rssOf: (pgid: number) => number): InstanceStatus {
    const s = this.state;
    return {
      name: this.spec.name,
      instance: this.index,
      state: s.phase,
      pid: this.pid,
      uptime_ms: s.startedAt !== null && this.child ? Math.max(0, Math.round(now - s.startedAt)) : null,
      restarts: s.restarts,
      last_exit: s.lastExit,
      next_retry_ms: s.retryAt !== null ? Math.max(0, Math.round(s.retryAt - now)) : null,
      rss_bytes: this.child ? rssOf(this.child.pid) : null,
      reason: s.reason,
    };
  }

  /**
   * Stops for good and closes the log once the last output is written (a program that
   * escaped its group with setsid may hold the pipe forever: that gets a second, no more).
   */
  async dispose(): Promise<void> {
    await this.command("stop");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.drained, new Promise((r) => (timer = setTimeout(r, DRAIN_GRACE_MS)))]);
    clearTimeout(timer);
    this.logFile.close();
  }

  private dispatch(event: PolicyEvent): void {
    this.inbox.push(event);
    if (this.dispatching) return; // an action's own event: handled by the loop below
    this.dispatching = true;
    const before = this.state.phase;
    try {
      for (let e = this.inbox.shift(); e; e = this.inbox.shift()) {
        const r = step(this.state, e, this.deps.clock());
        this.state = r.state;
        const said = r.actions.map((a) => this.apply(a)).filter(Boolean);
        this.report(r.note, said as string[]);
      }
    } finally {
      this.dispatching = false;
    }
    if (this.state.phase !== before) this.deps.onChange?.(this);
    for (const w of [...this.waiters]) w();
  }

  private report(note: string | undefined, said: string[]): void {
    const phase = this.state.phase;
    if ((phase === this.shown || phase === "starting") && !note) return;
    if (phase === "running" && this.child) said.push(`pid ${this.child.pid}`);
    const detail = [note, ...said].filter(Boolean).join("; ");
    const line = `${this.key}: ${this.shown === phase ? phase : `${this.shown} → ${phase}`}${detail ? ` (${detail})` : ""}`;
    this.shown = phase;
    if (phase === "fatal") this.deps.log.error(line);
    else this.deps.log.info(line);
  }

  /** Carries out one action; returns a few words for the transition's log line. */
  private apply(a: PolicyAction): string | undefined {
    switch (a.type) {
      case "timer":
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        if (a.at !== null) {
          this.timer = setTimeout(() => {
            this.timer = null;
            this.dispatch({ type: "timer" });
          }, Math.max(0, a.at - this.deps.clock()));
        }
        return undefined;
      case "signal":
        if (!this.child) return undefined;
        try {
          const escaped = signalTree(this.child.pid, this.child.tag, a.signal);
          if (escaped.length) return `${a.signal} to group ${this.child.pid} and to ${escaped.length} descendant(s) outside it (${escaped.join(", ")})`;
        } catch (e) {
          return `${a.signal} to group ${this.child.pid} failed: ${(e as Error).message}`;
        }
        return `${a.signal} to group ${this.child.pid}`;
      case "spawn":
        return this.spawn();
    }
  }

  private spawn(): string | undefined {
    let child: SpawnedChild;
    try {
      child = spawnInstance(this.spec, this.index, this.logFile);
    } catch (e) {
      const err = e instanceof SpawnError ? e : new SpawnError(String(e), true);
      this.dispatch({ type: "spawn_failed", reason: err.reason, retryable: err.retryable });
      return undefined;
    }
    this.child = child;
    this.deps.watchdog?.add(child.pid, this.spec.stopSignal, child.tag);
    this.deps.ledger?.record({ key: this.key, pid: child.pid, starttime: procStat(child.pid)?.starttime ?? null, stopSignal: this.spec.stopSignal, tag: child.tag });
    this.drained = child.drained;
    void this.watch(child);
    this.dispatch({ type: "spawned" });
    return undefined;
  }

  /** Waits for the leader, sweeps what it left in its group, then reports the exit. */
  private async watch(child: SpawnedChild): Promise<void> {
    const exit = await child.exited;
    let swept = false;
    try {
      swept = await sweepGroup(child.pid, undefined, child.tag);
    } catch (e) {
      this.deps.log.warn(`${this.key}: cannot sweep group ${child.pid}: ${(e as Error).message}`);
    }
    if (swept) {
      this.deps.watchdog?.remove(child.pid);
      this.deps.ledger?.forget(this.key);
    } else {
      this.deps.log.warn(`${this.key}: processes of group ${child.pid} survived SIGKILL (stuck in the kernel?)`);
    }
    this.child = null;
    this.dispatch({ type: "exited", code: exit.code, signal: exit.signal });
  }

  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}
