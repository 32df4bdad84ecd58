import { readFileSync, readdirSync } from "node:fs";
import type { Subprocess } from "bun";
import { TEMPEST, waitFor } from "./tempest.ts";

/** A running `tempest` whose output the test can watch; always stopped in afterEach. */
export interface Running {
  proc: Subprocess<"ignore" | "pipe", "pipe", "pipe">;
  stdout(): string;
  stderr(): string;
  waitForStderr(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<number>;
}

const running = new Set<Running>();

export function startTempest(args: string[], opts: { cwd?: string; env?: Record<string, string>; stdin?: "ignore" | "pipe" } = {}): Running {
  const proc = Bun.spawn([TEMPEST, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const r: Running = { proc, ...watchOutput(proc) };
  running.add(r);
  void r.exited.then(() => running.delete(r));
  return r;
}

/** Keeps a child's output as it comes (read, so its pipes never fill), and its exit once both are drained. */
export function watchOutput(proc: { stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array>; exited: Promise<number> }): Omit<Running, "proc"> {
  let out = "";
  let err = "";
  const collect = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const d = new TextDecoder();
    for await (const c of s) add(d.decode(c, { stream: true }));
  };
  const drained = Promise.all([collect(proc.stdout, (t) => (out += t)), collect(proc.stderr, (t) => (err += t))]);
  return {
    stdout: () => out,
    stderr: () => err,
    waitForStderr: (re, timeoutMs = 15_000) => waitFor(() => re.exec(err), `stderr to match ${re}`, timeoutMs),
    exited: proc.exited.then(async (code) => {
      await drained;
      return code;
    }),
  };
}

/** Kills every process a test started and is still running (call in afterEach). */
export async function stopAll(): Promise<void> {
  for (const r of [...running]) {
    r.proc.kill("SIGKILL");
    await r.exited;
  }
}

/** True while `pid` runs; a zombie (exited, not yet reaped by its new parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Pids of the direct children of `pid`, read from /proc (no procps needed). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 is the ppid; the command name (field 2) may hold spaces, so split after ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}
