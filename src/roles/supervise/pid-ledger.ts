import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import type { Logger } from "../log.ts";
import { signalGroup, signalTagged } from "./group.ts";
import { allProcesses, procStat, taggedPids } from "./proc.ts";

/**
 * The groups this supervisor leads, on disk (next to its socket), each with the leader's
 * start time. A supervisor that starts after one was SIGKILLed (and whose watchdog did not
 * finish the job) reads it and stops what is still running, so it never runs duplicates;
 * the start time tells our old process from an unrelated one that reused its pid.
 */
export interface LedgerEntry {
  key: string;
  pid: number;
  /** /proc start time of the leader; null when it could not be read. */
  starttime: number | null;
  stopSignal: string;
  /** The instance's environment tag (proc.ts `taggedPids`): finds descendants that left the group. */
  tag?: string;
}

export class PidLedger {
  private readonly entries = new Map<string, LedgerEntry>();

  constructor(readonly file: string) {}

  record(entry: LedgerEntry): void {
    this.entries.set(entry.key, entry);
    this.save();
  }

  forget(key: string): void {
    if (this.entries.delete(key)) this.save();
  }

  remove(): void {
    try {
      unlinkSync(this.file);
    } catch {
      // never written
    }
  }

  /** Best effort: the ledger is a safety net, and a full disk must not stop supervision. */
  private save(): void {
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify([...this.entries.values()]), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch {
      // next change tries again
    }
  }
}

const LEFTOVER_GRACE_MS = 2_000;

/**
 * Stops the groups a previous supervisor left in `file` and removes the file. A leader still
 * alive with the recorded start time gets its stop signal, then SIGKILL after a grace; if the
 * leader is gone, members of its group started after it are killed one by one. A pid that now
 * belongs to another program is left alone.
 */
export async function stopLeftovers(file: string, log: Logger): Promise<void> {
  if (!existsSync(file)) return;
  let entries: LedgerEntry[] = [];
  try {
    entries = JSON.parse(readFileSync(file, "utf8")) as LedgerEntry[];
  } catch {
    log.warn(`ignoring ${file}: not readable`);
  }
  const signalled: LedgerEntry[] = [];
  for (const e of entries) {
    const leader = procStat(e.pid);
    if (leader && e.starttime !== null && leader.starttime !== e.starttime) {
      log.info(`${e.key}: pid ${e.pid} now belongs to another program; left alone`);
      continue;
    }
    if (leader && leader.state !== "Z" && e.starttime !== null) {
      log.warn(`${e.key}: pid ${e.pid} is still running from a previous supervisor; stopping it`);
      signalGroup(e.pid, e.stopSignal);
      signalled.push(e);
    } else if (!leader || leader.state === "Z") {
      killStrays(e, log);
    }
  }
  // Descendants that left the group (setsid) but carry the instance's tag: their stop signal too.
  for (const e of entries) {
    if (!e.tag) continue;
    const escaped = taggedPids(e.tag).filter((pid) => pid !== e.pid);
    if (escaped.length === 0) continue;
    log.warn(`${e.key}: ${escaped.length} descendant(s) outside group ${e.pid} (${escaped.join(", ")}) left by a previous supervisor; stopping them`);
    signalTagged(e.tag, e.stopSignal, e.pid);
  }
  const tagsAlive = () => entries.some((e) => e.tag && taggedPids(e.tag).length > 0);
  const deadline = performance.now() + LEFTOVER_GRACE_MS;
  while ((signalled.some(alive) || tagsAlive()) && performance.now() < deadline) await Bun.sleep(20);
  for (const e of entries) if (e.tag) signalTagged(e.tag, "SIGKILL");
  for (const e of signalled) {
    if (alive(e)) signalGroup(e.pid, "SIGKILL");
    else killStrays(e, log);
  }
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

function killStrays(e: LedgerEntry, log: Logger): void {
  for (const m of strays(e)) {
    log.warn(`${e.key}: pid ${m} (left in group ${e.pid} by a previous supervisor) killed`);
    try {
      process.kill(m, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

function alive(e: LedgerEntry): boolean {
  const s = procStat(e.pid);
  return s !== null && s.state !== "Z" && s.starttime === e.starttime;
}

/** Members of a group whose leader is gone; a pgid cannot be reused while any member lives. */
function strays(e: LedgerEntry): number[] {
  if (e.starttime === null) return [];
  return allProcesses().filter((p) => p.pgrp === e.pid && p.pid !== e.pid && p.state !== "Z" && p.starttime >= (e.starttime as number)).map((p) => p.pid);
}
