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

/** The variable every supervised process and its descendants carry: `TEMPEST_SUPERVISE_TAG_<tag>=1`. */
export const tagVariable = (tag: string): string => `TEMPEST_SUPERVISE_TAG_${tag}`;

/**
 * Live processes that inherited `tag` (see spawn.ts), wherever they went: a descendant that
 * called setsid left the group, and when its parent exits it is reparented away from the
 * tree, but it keeps its environment. Empty without /proc. Reads the environ of every process
 * of this user, so it is for stops and exits, not for a hot loop.
 */
export function taggedPids(tag: string): number[] {
  const needle = Buffer.from(`\0${tagVariable(tag)}=`);
  const first = Buffer.from(`${tagVariable(tag)}=`);
  const out: number[] = [];
  for (const p of allProcesses()) {
    if (p.state === "Z" || p.pid === process.pid) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${p.pid}/environ`);
    } catch {
      continue;
    }
    if (env.indexOf(needle) >= 0 || env.subarray(0, first.length).equals(first)) out.push(p.pid);
  }
  return out;
}
