/**
 * Several "hosts" on one machine, for tests of the cluster (DESIGN.md §8–§9): a Linux bridge in
 * the root namespace and one network namespace per host, each joined to the bridge by a veth
 * pair. Processes started with `host.exec` see only their namespace's network, so a director in
 * the root namespace, agents in the namespaces and the tasks they spawn talk over real
 * (virtual) links that a test can cut with `linkDown`.
 *
 * Needs root and iproute2. Every name carries a per-run id (`tempest-<id>-<i>`, `tpb<id>`,
 * `tpv<id>h<i>`/`tpv<id>n<i>`; interface names stay ≤ 15 chars), so parallel runs do not clash.
 * A state file per run in /run/tempest-netns names its owner pid, so `sweepStale` removes only
 * what a dead run left behind, never what a live parallel run is using.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";

export interface TestHost {
  /** The network namespace's name (`tempest-<id>-<i>`). */
  name: string;
  /** Its address on the bridge's /24. */
  ip: string;
  /** The veth end inside the namespace (what linkDown/linkUp switch). */
  veth: string;
  /** Bun.spawn of `ip netns exec <ns> ...args`; the process is killed by destroy(). */
  exec<const In extends Bun.SpawnOptions.Writable = "ignore", const Out extends Bun.SpawnOptions.Readable = "pipe", const Err extends Bun.SpawnOptions.Readable = "inherit">(
    args: string[],
    opts?: Bun.SpawnOptions.SpawnOptions<In, Out, Err>,
  ): Subprocess<In, Out, Err>;
  /** Cuts the host off the network (its veth down, from inside its namespace). Processes keep running. */
  linkDown(): Promise<void>;
  linkUp(): Promise<void>;
  /** Pids of every process in the namespace right now (`ip netns pids`). */
  pids(): number[];
}

export interface TestNet {
  id: string;
  bridge: string;
  bridgeIp: string;
  /** e.g. "10.213.7" — the /24 without its last octet. */
  subnet: string;
  hosts: TestHost[];
  /** Kills every process in the namespaces, deletes namespaces, veths and the bridge. Idempotent. */
  destroy(): Promise<void>;
}

const STATE_DIR = "/run/tempest-netns";
const NS_DIR = "/run/netns";

/** Synchronous command; returns exit code and output (never throws). */
function sh(args: string[]): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  return { code: r.exitCode ?? 1, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** Like sh, but a failure throws with the command and its stderr. */
function must(args: string[]): string {
  const r = sh(args);
  if (r.code !== 0) throw new Error(`${args.join(" ")} failed (${r.code}): ${r.err.trim() || r.out.trim()}`);
  return r.out;
}

let canUse: { ok: true } | { ok: false; why: string } | undefined;

/** Whether this machine lets us build namespaces: root, iproute2, and a namespace actually created. */
export function canUseNetns(): { ok: true } | { ok: false; why: string } {
  if (canUse) return canUse;
  const check = (): { ok: true } | { ok: false; why: string } => {
    if (process.platform !== "linux") return { ok: false, why: `network namespaces need Linux (this is ${process.platform})` };
    if (process.getuid?.() !== 0) return { ok: false, why: "not running as root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)" };
    if (!Bun.which("ip")) return { ok: false, why: "`ip` (iproute2) is not installed" };
    const probe = `tempest-probe-${process.pid}`;
    const add = sh(["ip", "netns", "add", probe]);
    if (add.code !== 0) return { ok: false, why: `cannot create a network namespace: ${add.err.trim()}` };
    sh(["ip", "netns", "del", probe]);
    const br = `tpbprobe${process.pid % 10000}`;
    const b = sh(["ip", "link", "add", br, "type", "bridge"]);
    if (b.code !== 0) return { ok: false, why: `cannot create a bridge: ${b.err.trim()}` };
    sh(["ip", "link", "del", br]);
    return { ok: true };
  };
  canUse = check();
  return canUse;
}

function randomId(): string {
  return Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0");
}

/** A random 10.<200-250>.<x>.0/24 that no interface or route here uses. */
function freeSubnet(): string {
  const used = must(["ip", "-o", "-4", "addr"]) + must(["ip", "-4", "route"]);
  for (let tries = 0; tries < 200; tries++) {
    const subnet = `10.${200 + Math.floor(Math.random() * 51)}.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(`${subnet}.`) && !used.includes(`${subnet.split(".").slice(0, 2).join(".")}.0.0/16`)) return subnet;
  }
  throw new Error("no free 10.x /24 found for the test network");
}

interface RunState {
  id: string;
  pid: number;
  /** The owner's start time (field 22 of /proc/<pid>/stat), so a recycled pid is not mistaken for it. */
  start: string;
  namespaces: string[];
  bridge: string;
  created_at: number;
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function ownerAlive(s: RunState): boolean {
  return s.pid === process.pid || procStart(s.pid) === s.start;
}

function nsPids(ns: string): number[] {
  const r = sh(["ip", "netns", "pids", ns]);
  if (r.code !== 0) return [];
  return r.out.split(/\s+/).filter(Boolean).map(Number).filter((p) => p !== process.pid);
}

/** SIGKILL everything in the namespaces until none is left (a killed process may have spawned one). */
function killAll(namespaces: string[]): void {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const pids = namespaces.flatMap(nsPids);
    if (pids.length === 0 || Date.now() > deadline) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    Bun.sleepSync(20);
  }
}

/** Removes a run's namespaces (their veth ends go with them), any veth host end left, and its bridge. */
function teardown(id: string, namespaces: string[], bridge: string): void {
  killAll(namespaces);
  for (const ns of namespaces) if (existsSync(`${NS_DIR}/${ns}`)) sh(["ip", "netns", "del", ns]);
  // A veth pair dies with its namespace end; a half-built pair (crash between add and move) may remain.
  for (const link of listLinks()) if (link.startsWith(`tpv${id}`)) sh(["ip", "link", "del", link]);
  if (listLinks().includes(bridge)) sh(["ip", "link", "del", bridge]);
  rmSync(`${STATE_DIR}/${id}.json`, { force: true });
}

function listLinks(): string[] {
  return sh(["ip", "-o", "link"]).out.split("\n").map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "").filter(Boolean);
}

const live = new Map<string, () => void>();
let hooked = false;

/** On exit, Ctrl-C or SIGTERM, tear down every network this process built (synchronously). */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const all = () => {
    for (const f of [...live.values()]) f();
  };
  process.on("exit", all);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      all();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}

/** Whether the run `id` has a state file whose owner still runs (read fresh: a parallel run may have just begun). */
function runIsLive(id: string): boolean {
  try {
    return ownerAlive(JSON.parse(readFileSync(`${STATE_DIR}/${id}.json`, "utf8")) as RunState);
  } catch {
    return false;
  }
}

/**
 * Removes `tempest-*` namespaces, `tpb*` bridges and `tpv*` veths that earlier runs left behind:
 * those whose run state names an owner that is gone, and those without any state that are older
 * than this process. A run writes its state before it creates anything, so what a live run
 * (this one or a parallel one) owns is always recognised and left alone.
 */
export function sweepStale(): { removed: string[] } {
  const removed: string[] = [];
  if (existsSync(STATE_DIR)) {
    for (const f of readdirSync(STATE_DIR)) {
      if (!f.endsWith(".json")) continue;
      let s: RunState;
      try {
        s = JSON.parse(readFileSync(`${STATE_DIR}/${f}`, "utf8")) as RunState;
      } catch {
        rmSync(`${STATE_DIR}/${f}`, { force: true });
        continue;
      }
      if (ownerAlive(s)) continue;
      teardown(s.id, s.namespaces, s.bridge);
      removed.push(...s.namespaces, s.bridge);
    }
  }
  // Leftovers whose state file is gone too: only what predates this process.
  const myStart = Date.now() - process.uptime() * 1000;
  if (existsSync(NS_DIR)) {
    for (const ns of readdirSync(NS_DIR)) {
      const m = /^tempest-([0-9a-f]{6})-\d+$/.exec(ns);
      if (!m || runIsLive(m[1] as string)) continue;
      if (statSync(`${NS_DIR}/${ns}`).mtimeMs >= myStart) continue;
      killAll([ns]);
      sh(["ip", "netns", "del", ns]);
      removed.push(ns);
    }
  }
  for (const link of listLinks()) {
    const m = /^tp[bv]([0-9a-f]{6})/.exec(link);
    if (!m || runIsLive(m[1] as string)) continue;
    if (sh(["ip", "link", "del", link]).code === 0) removed.push(link);
  }
  return { removed };
}

/** Builds the bridge and `n` hosts. Call `destroy()` in afterAll; exit hooks clean up after a crash. */
export async function createHosts(n: number, opts: { sweep?: boolean } = {}): Promise<TestNet> {
  const can = canUseNetns();
  if (!can.ok) throw new Error(`cannot build a test network: ${can.why}`);
  if (opts.sweep !== false) sweepStale();
  hookExit();
  const id = randomId();
  const bridge = `tpb${id}`;
  const subnet = freeSubnet();
  const bridgeIp = `${subnet}.1`;
  const namespaces = Array.from({ length: n }, (_, i) => `tempest-${id}-${i}`);
  mkdirSync(STATE_DIR, { recursive: true });
  const state: RunState = { id, pid: process.pid, start: procStart(process.pid) ?? "", namespaces, bridge, created_at: Date.now() };
  // The state goes first, so even a crash half-way through setup is swept later.
  writeFileSync(`${STATE_DIR}/${id}.json`, JSON.stringify(state));
  let destroyed = false;
  const destroySync = () => {
    if (destroyed) return;
    destroyed = true;
    live.delete(id);
    teardown(id, namespaces, bridge);
  };
  live.set(id, destroySync);

  try {
    must(["ip", "link", "add", bridge, "type", "bridge"]);
    must(["ip", "addr", "add", `${bridgeIp}/24`, "dev", bridge]);
    must(["ip", "link", "set", bridge, "up"]);
    const hosts: TestHost[] = namespaces.map((ns, i) => {
      const outside = `tpv${id}h${i}`;
      const inside = `tpv${id}n${i}`;
      const ip = `${subnet}.${10 + i}`;
      must(["ip", "netns", "add", ns]);
      must(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside]);
      must(["ip", "link", "set", inside, "netns", ns]);
      must(["ip", "link", "set", outside, "master", bridge]);
      must(["ip", "link", "set", outside, "up"]);
      const inNs = (...args: string[]) => must(["ip", "netns", "exec", ns, ...args]);
      inNs("ip", "link", "set", "lo", "up");
      inNs("ip", "addr", "add", `${ip}/24`, "dev", inside);
      inNs("ip", "link", "set", inside, "up");
      inNs("ip", "route", "add", "default", "via", bridgeIp);
      const host: TestHost = {
        name: ns,
        ip,
        veth: inside,
        exec: (args, spawnOpts) => Bun.spawn(["ip", "netns", "exec", ns, ...args], spawnOpts as never) as never,
        linkDown: async () => {
          inNs("ip", "link", "set", inside, "down");
        },
        linkUp: async () => {
          inNs("ip", "link", "set", inside, "up");
          // The default route goes with the link; put it back.
          sh(["ip", "netns", "exec", ns, "ip", "route", "replace", "default", "via", bridgeIp]);
        },
        pids: () => nsPids(ns),
      };
      return host;
    });
    return {
      id,
      bridge,
      bridgeIp,
      subnet,
      hosts,
      destroy: async () => destroySync(),
    };
  } catch (e) {
    destroySync();
    throw e;
  }
}
