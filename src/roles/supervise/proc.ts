import { readFileSync, readdirSync } from "node:fs";

/**
 * Just enough of /proc (Linux) to tell who is who: a process's group, whether it is a zombie,
 * and its start time, which with the pid identifies a process even after its pid is reused.
 * Elsewhere these return null/empty and the callers fall back to plain kill(2) checks.
 */
export interface ProcStat {
  pid: number;
  /** One letter: R, S, D, Z (zombie), T, … */
  state: string;
  pgrp: number;
  /** Clock ticks since boot when the process started (field 22). */
  starttime: number;
}

export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pid, state: rest[0] ?? "?", pgrp: Number(rest[2]), starttime: Number(rest[19]) };
}

/** Every process of the group that has not exited (zombies waiting for a reaper are gone). */
export function groupMembers(pgid: number): ProcStat[] {
  return allProcesses().filter((p) => p.pgrp === pgid && p.state !== "Z");
}

export function allProcesses(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    const s = procStat(Number(e));
    if (s) out.push(s);
  }
  return out;
}

export const hasProcfs = (): boolean => procStat(process.pid) !== null;

/** Resident memory of a process in bytes (VmRSS), or 0 when unknown. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
