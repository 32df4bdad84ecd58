import { groupMembers, hasProcfs, procStat, taggedPids } from "./proc.ts";

/**
 * Every supervised instance leads its own process group (spawned detached), so one signal
 * reaches the program and everything it forked, and nothing it leaves behind escapes.
 */

/** Sends `signal` to the whole group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: string | number): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "ESRCH") return false;
    throw e;
  }
}

/**
 * The group, and every descendant that left it (setsid) but carries the instance's tag: a
 * program's daemonized helper holding a port must go with it. Returns the pids outside the
 * group that were signalled.
 */
export function signalTree(pgid: number, tag: string | null, signal: string | number): number[] {
  signalGroup(pgid, signal);
  return tag ? signalTagged(tag, signal, pgid) : [];
}


/**
 * Signals every live process carrying `tag` outside group `exceptGroup` (already signalled
 * through the group: a second signal could hit a trap's own child, e.g. `trap "sleep 2" TERM`).
 */
export function signalTagged(tag: string, signal: string | number, exceptGroup = 0): number[] {
  const escaped = taggedPids(tag).filter((pid) => pid !== exceptGroup && procStat(pid)?.pgrp !== exceptGroup);
  for (const pid of escaped) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
  return escaped;
}

/** True while some process of the group still runs (zombies do not count: they hold nothing). */
export function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  return hasProcfs() ? groupMembers(pgid).length > 0 : true;
}

const SWEEP_POLL_MS = 10;

/**
 * After the leader exited: SIGKILL whatever is left in its group and resolve once the group
 * is empty, so that a grandchild holding a port never blocks the next start. There is no
 * event for "a process that is not my child died", so this polls, briefly: SIGKILL is quick.
 * Resolves false if something survives `timeoutMs` (a process stuck in the kernel).
 */
export async function sweepGroup(pgid: number, timeoutMs = 5_000, tag: string | null = null): Promise<boolean> {
  const alive = () => groupAlive(pgid) || (tag !== null && taggedPids(tag).length > 0);
  signalTree(pgid, tag, "SIGKILL");
  if (!alive()) return true;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    await Bun.sleep(SWEEP_POLL_MS);
    if (!alive()) return true;
    signalTree(pgid, tag, "SIGKILL"); // a member forked after the first one
  }
  return false;
}
