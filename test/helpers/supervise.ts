import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { InstanceStatus } from "../../src/roles/supervise/instance.ts";
import { controlRequest } from "../../src/roles/supervise/control-client.ts";
import { startTempest, type Running } from "./process.ts";
import { runTempest, tempProject, waitFor, type RunResult } from "./tempest.ts";

/** A supervise.toml in its own temp folder, with its own socket, logs and TEMPEST_HOME. */
export function superviseProject(processes: string, files: Record<string, string> = {}): { dir: string; socket: string } {
  const dir = tempProject({ ...files, "supervise.toml": supervisedToml(processes) }, "tempest-sv-");
  return { dir, socket: join(dir, "s.sock") };
}

/** The file's text: our [supervise] section, then the given [[process]] entries. */
export function supervisedToml(processes: string): string {
  return `[supervise]\nsocket = "s.sock"\nlog_dir = "logs"\n\n${processes}`;
}

export interface SupervisorUnderTest {
  dir: string;
  socket: string;
  run: Running;
  /** `tempest supervise <args> --socket <this one>` */
  ctl(...args: string[]): Promise<RunResult>;
  /** Status straight from the socket (quick enough to poll). */
  status(): Promise<InstanceStatus[]>;
  row(name: string, instance?: number): Promise<InstanceStatus>;
  log(name: string, instance?: number): string;
  waitState(name: string, state: InstanceStatus["state"], timeoutMs?: number, instance?: number): Promise<InstanceStatus>;
}

const started: Running[] = [];

export async function startSupervise(p: { dir: string; socket: string }): Promise<SupervisorUnderTest> {
  const run = startTempest(["supervise", "supervise.toml"], { cwd: p.dir, env: { TEMPEST_HOME: join(p.dir, "home") } });
  started.push(run);
  await run.waitForStderr(/supervising \d+ process/, 15_000);
  const status = async () => (await controlRequest(p.socket, { type: "status" })).status ?? [];
  const row = async (name: string, instance = 0) => {
    const r = (await status()).find((s) => s.name === name && s.instance === instance);
    if (!r) throw new Error(`no status row for ${name}#${instance}`);
    return r;
  };
  return {
    ...p,
    run,
    ctl: (...args) => runTempest(["supervise", ...args, "--socket", p.socket], { cwd: p.dir, env: { TEMPEST_HOME: join(p.dir, "home") } }),
    status,
    row,
    log: (name, instance = 0) => {
      const f = join(p.dir, "logs", `${name}-${instance}.log`);
      return existsSync(f) ? readFileSync(f, "utf8") : "";
    },
    waitState: async (name, state, timeoutMs = 10_000, instance = 0) => {
      let last: InstanceStatus | undefined;
      await waitFor(async () => (last = await row(name, instance)).state === state, `${name}#${instance} to be ${state} (last: ${JSON.stringify(last)})`, timeoutMs);
      return last as InstanceStatus;
    },
  };
}

/** afterEach: a graceful SIGTERM first (so the children go too), SIGKILL if that takes too long. */
export async function stopSupervisors(): Promise<void> {
  for (const r of started.splice(0)) {
    r.proc.kill("SIGTERM");
    const done = await Promise.race([r.exited.then(() => true), Bun.sleep(12_000).then(() => false)]);
    if (!done) r.proc.kill("SIGKILL");
  }
}

/** Live (non-zombie) members of a process group, from /proc. */
export function groupMembers(pgid: number): number[] {
  return procs().filter((p) => p.pgrp === pgid).map((p) => p.pid);
}

/** Live processes whose command line contains `marker`. */
export function withCmdline(marker: string): number[] {
  return procs().filter((p) => p.cmdline.includes(marker)).map((p) => p.pid);
}

function procs(): Array<{ pid: number; pgrp: number; cmdline: string }> {
  const out = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (rest[0] === "Z") continue;
      out.push({ pid: Number(e), pgrp: Number(rest[2]), cmdline: readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ") });
    } catch {
      // ended while we looked
    }
  }
  return out;
}
