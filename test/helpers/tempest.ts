import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** The compiled binary under test; `npm test` builds it first. */
/** `TEMPEST_TEST_BIN` runs the same tests against another build (e.g. the one before a fix). */
export const TEMPEST = process.env.TEMPEST_TEST_BIN ?? resolve(import.meta.dir, "../../dist/tempest");

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled binary to completion (killed after `timeoutMs`); an `env` value of undefined unsets that variable. */
export async function runTempest(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number; stdin?: string } = {}): Promise<RunResult> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const proc = Bun.spawn([TEMPEST, ...args], {
    cwd: opts.cwd,
    env,
    stdin: opts.stdin !== undefined ? new Blob([opts.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const made: string[] = [];

/** A temp folder holding the given files (paths relative to it); removed by `cleanupTempDirs`. */
export function tempProject(files: Record<string, string>, prefix = "tempest-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  writeFiles(dir, files);
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Polls `cond` until it is truthy or the deadline passes; never a blind sleep. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/**
 * True when every named task (instance `instance`) has joined the topology whose stderr this
 * is: on its own ("task D#0 joined …") or inside a fused worker ("task A#0 joined … a worker
 * hosting A, B, C, D").
 */
export function tasksJoined(stderr: string, tasks: string[], instance: string | number = 0): boolean {
  const joined = new Set<string>();
  for (const m of stderr.matchAll(/task (\S+)#(\S+) joined[^\n]*?(?:a worker hosting ([^)\n]+))?\)/g)) {
    if (m[2] !== String(instance)) continue;
    joined.add(m[1]!);
    for (const t of m[3]?.split(", ") ?? []) joined.add(t);
  }
  return tasks.every((t) => joined.has(t));
}
