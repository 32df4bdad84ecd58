/**
 * Operating a cluster (DESIGN.md §9, §12): /metrics, statsd, live scale, rolling reload and the
 * dashboard, on the compiled binary. One director (with a token) and two agents on 127.0.0.1,
 * a diamond reading a Redis stream; D records, per entry id, when it finished and which
 * version did it. test/e2e/cluster.test.ts covers hosts and failures; this covers operations.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { udp } from "bun";
import { startTempest, stopAll, type Running } from "../helpers/process.ts";
import { freePort, startRedis, stopAllRedis, type TestRedis } from "../helpers/redis.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor, writeFiles } from "../helpers/tempest.ts";

/** Code passed to page.evaluate runs in the browser, where these exist. */
declare const document: any;

const TOKEN = `op-${Math.random().toString(36).slice(2)}`;
const TOPOLOGY = "diamond";

let redis: TestRedis;
let prefix: string;
let key: string;
let project: string;
let director: Running;
let url: string;
let statsd: udp.Socket<"buffer">;
const statsdLines: string[] = [];
const agents: Running[] = [];
const shots = mkdtempSync(join(tmpdir(), "tempest-dashboard-shots-"));

afterAll(async () => {
  await stopAll();
  statsd?.close();
  await stopAllRedis();
  cleanupTempDirs();
});

const env = () => ({ TEMPEST_TOKEN: TOKEN, TEMPEST_KEY_PREFIX: prefix, TEMPEST_AGENT_TTL_MS: "3000", TEMPEST_AGENT_BEAT_MS: "500", TEMPEST_REGISTRY_TTL_MS: "3000", TEMPEST_DIRECTOR_TICK_MS: "200" });
const cli = (args: string[], timeoutMs = 120_000) => runTempest([...args, "--director", url], { env: env(), timeoutMs });

function files(version: string, statsdPort: number): Record<string, string> {
  const task = (name: string) => `[[topology.task]]\nname = "${name}"\ntype = "src/tasks/${name.toLowerCase()}.ts"\n${name === "D" ? 'join = "all"\n' : ""}`;
  const pass = `import { defineTask } from "tempest";\nexport default defineTask({ handle(msg) { return msg; } });\n`;
  return {
    "Project.toml": `[project]\nmembers = ["projects/main.toml"]\n`,
    "projects/main.toml": `[project]\nname = "demo"\nversion = "${version}"\n\n[[topology]]\nname = "${TOPOLOGY}"\ngraph = """\n    A --> B;\n    A --> C;\n    B --> D;\n    C --> D;\n"""\n\n${["A", "B", "C", "D"].map(task).join("\n")}`,
    // A poison entry (field poison) fails in A every time: retried, then dead-lettered.
    "src/tasks/a.ts": `import { defineTask } from "tempest";\nexport default defineTask<{ poison?: string }>({ handle(msg) { if (msg.poison) throw new Error("poison entry " + msg.poison); return msg; } });\n`,
    "src/tasks/b.ts": pass,
    "src/tasks/c.ts": pass,
    // When each entry finished (a sorted set scored by time) and which version finished it.
    "src/tasks/d.ts": `import { defineTask } from "tempest";
import { RedisClient } from "bun";
const redis = new RedisClient(${JSON.stringify(redis.url)});
export default defineTask({ async handle(_msg, ctx) {
  await redis.send("ZADD", [${JSON.stringify(`${prefix}:done`)}, String(Date.now()), ctx.msgId]);
  await redis.send("HSET", [${JSON.stringify(`${prefix}:version`)}, ctx.msgId, ${JSON.stringify(version)}]);
  await redis.send("INCR", [${JSON.stringify(`${prefix}:calls`)}]);
} });
`,
    "Runtime.toml": `[stats]\nstatsd = "127.0.0.1:${statsdPort}"\n\n[topology.${TOPOLOGY}.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "${key}"\ngroup = "g"\nclaim_idle_ms = 3000\n\n[topology.${TOPOLOGY}.message]\ntimeout = 5000\n` +
      // One process per task instance, so /metrics, scale and reload are seen per task process.
      ["A", "B", "C", "D"].map((t) => `\n[topology.${TOPOLOGY}.task.${t}]\nisolate = true\n`).join(""),
  };
}

let fedCount = 0;
async function feed(n: number, fields: (i: number) => Record<string, string> = (i) => ({ n: String(i) })): Promise<string[]> {
  const ids = await redis.xadd(key, n, (i) => fields(fedCount + i));
  fedCount += n;
  return ids;
}

async function done(): Promise<number> {
  return Number(await redis.call("ZCARD", `${prefix}:done`));
}

async function pending(): Promise<number> {
  return Number(((await redis.call("XPENDING", key, "g")) as [number])[0]);
}

interface Proc { kind: string; task: string | null; instance: number; agent: string; pid: number | null; state: string; version: string; assigned: boolean }
async function topologyView(): Promise<{ status: string; version: string; reason: string | null; processes: Proc[]; stats: { source: { read: number } } | null }> {
  const r = await cli(["status", "--json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).topologies.find((t: { name: string }) => t.name === TOPOLOGY);
}

async function scrape(): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const inner = /\{([^}]*)\}/.exec(line)?.[1] ?? "";
    if (want.every((w) => inner.split(",").includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return Number.NaN;
}

beforeAll(async () => {
  redis = await startRedis();
  prefix = redis.prefix();
  key = `${prefix}:orders`;
  statsd = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: (_s, buf) => void statsdLines.push(...buf.toString().split("\n").filter(Boolean)) } });
  project = tempProject(files("0.1.0", statsd.port), "tempest-operate-");
  expect((await runTempest(["build", "--project", project, "--no-typecheck"], { timeoutMs: 120_000 })).code).toBe(0);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  director = startTempest(["director", "--listen", `127.0.0.1:${port}`, "--redis", redis.url, "--home", tempProject({}, "tempest-director-")], { env: env() });
  await director.waitForStderr(/listening on http:/);
  for (const name of ["op-1", "op-2"]) {
    agents.push(startTempest(["agent", "--director", url, "--redis", redis.url, "--name", name, "--slots", "12", "--home", tempProject({}, `tempest-${name}-`)], { env: env() }));
  }
  const deployed = await cli(["deploy", "--project", project, "--start"], 180_000);
  expect({ code: deployed.code, stderr: deployed.code ? deployed.stderr : "" }).toEqual({ code: 0, stderr: "" });
  expect(deployed.stdout).toContain("diamond 0.1.0: running — 5/5 processes running on");
}, 240_000);

describe("operating a cluster", () => {
  test("/metrics: valid Prometheus text; counters rise; histogram counts match the counters; acked equals what was fed", async () => {
    await feed(2_000);
    await waitFor(async () => (await done()) >= 2_000, "2,000 entries to finish", 60_000);
    const first = await scrape();
    await feed(2_000);
    await waitFor(async () => (await done()) >= 4_000, "4,000 entries to finish", 60_000);
    // The topology reports every 2 s at most (its registry beat): wait for a snapshot with everything.
    const second = await waitFor(async () => {
      const t = await scrape();
      // The lag is measured by the source about once a second, so it trails a little.
      return sample(t, "tempest_source_acked_total", { topology: TOPOLOGY }) === 4_000 && sample(t, "tempest_source_lag", { topology: TOPOLOGY }) === 0 ? t : null;
    }, "tempest_source_acked_total to reach 4000 and the lag 0", 30_000);

    const check = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new Blob([second]), stdout: "pipe", stderr: "pipe" });
    expect({ code: check.exitCode, out: check.stdout.toString() + check.stderr.toString() }).toEqual({ code: 0, out: "" });

    for (const name of ["tempest_source_read_total", "tempest_topology_completed_total"]) {
      expect(sample(second, name, { topology: TOPOLOGY })).toBeGreaterThan(sample(first, name, { topology: TOPOLOGY }));
    }
    for (const task of ["A", "B", "C", "D"]) {
      const handled = sample(second, "tempest_task_handled_total", { topology: TOPOLOGY, task });
      expect(handled).toBeGreaterThanOrEqual(4_000);
      expect(sample(second, "tempest_task_handle_seconds_count", { topology: TOPOLOGY, task })).toBe(handled);
      expect(sample(second, "tempest_task_handle_seconds_bucket", { topology: TOPOLOGY, task, le: "+Inf" })).toBe(handled);
    }
    expect(sample(second, "tempest_topology_complete_seconds_count", { topology: TOPOLOGY })).toBe(sample(second, "tempest_topology_completed_total", { topology: TOPOLOGY }));
    expect(sample(second, "tempest_source_acked_total", { topology: TOPOLOGY })).toBe(4_000);
    expect(sample(second, "tempest_source_lag", { topology: TOPOLOGY })).toBe(0);
    expect(sample(second, "tempest_agent_slots", { agent: "op-1" })).toBe(12);
    expect(sample(second, "tempest_process_up", { topology: TOPOLOGY, task: "B", instance: "0" })).toBe(1);
    // Without the token: 401, like every API call.
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
  }, 120_000);

  test("statsd receives the same counters and sampled timings over UDP", async () => {
    const sum = (name: string) => statsdLines.filter((l) => l.startsWith(`tempest.${TOPOLOGY}.${name}:`) && l.endsWith("|c")).reduce((n, l) => n + Number(l.slice(l.indexOf(":") + 1, l.indexOf("|"))), 0);
    await waitFor(() => sum("source.read") >= 4_000, "statsd read counter to reach 4000", 30_000);
    expect(sum("source.read")).toBe(4_000);
    expect(sum("task.D.handled")).toBeGreaterThanOrEqual(4_000);
    expect(statsdLines.some((l) => /^tempest\.diamond\.task\.B\.handle:[\d.]+\|ms\|@0\.1$/.test(l))).toBe(true);
    expect(statsdLines.some((l) => /^tempest\.diamond\.source\.pending:\d+\|g$/.test(l))).toBe(true);
  }, 60_000);

  test("scale B=3 mid-stream: three B instances, every other process keeps its pid, nothing lost; then B=1", async () => {
    const before = await topologyView();
    const pidsBefore = new Map(before.processes.map((p) => [`${p.kind}:${p.task}#${p.instance}`, p.pid]));
    const feeding = feed(6_000);
    const up = await cli(["scale", TOPOLOGY, "B=3"]);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain("diamond B: 3 instances");
    const after = await topologyView();
    const bs = after.processes.filter((p) => p.task === "B" && p.assigned);
    expect(bs.map((p) => [p.instance, p.state])).toEqual([[0, "running"], [1, "running"], [2, "running"]]);
    for (const p of after.processes.filter((x) => x.assigned)) {
      const k = `${p.kind}:${p.task}#${p.instance}`;
      if (pidsBefore.has(k)) expect({ k, pid: p.pid }).toEqual({ k, pid: pidsBefore.get(k)! });
    }
    const down = await cli(["scale", TOPOLOGY, "B=1"]);
    expect(down.code).toBe(0);
    const last = await topologyView();
    expect(last.processes.filter((p) => p.task === "B").map((p) => p.instance)).toEqual([0]);
    for (const p of last.processes) expect({ p: `${p.kind}:${p.task}#${p.instance}`, pid: p.pid }).toEqual({ p: `${p.kind}:${p.task}#${p.instance}`, pid: pidsBefore.get(`${p.kind}:${p.task}#${p.instance}`)! });
    await feeding;
    await waitFor(async () => (await done()) >= fedCount && (await pending()) === 0, `all ${fedCount} entries done, nothing pending`, 90_000);
    expect(await done()).toBe(fedCount);
  }, 180_000);

  test("reload to a new version while 50,000 entries stream in: all processed, no gap over a second, the new version after the switch", async () => {
    // The new version: D records "0.2.0".
    writeFiles(project, files("0.2.0", statsd.port));
    expect((await runTempest(["build", "--project", project, "--no-typecheck"], { timeoutMs: 120_000 })).code).toBe(0);
    expect((await cli(["deploy", "--project", project], 180_000)).code).toBe(0);
    const start = fedCount;
    const total = 50_000;
    const callsBefore = Number(await redis.call("GET", `${prefix}:calls`));
    const doneBefore = await done();
    let feeding = true;
    const feeder = (async () => {
      // About 2,500 entries a second, so the stream is busy before, during and after the switch.
      while (fedCount - start < total) {
        await feed(Math.min(250, total - (fedCount - start)));
        await Bun.sleep(100);
      }
      feeding = false;
    })();
    await waitFor(async () => (await done()) >= start + 5_000, "the stream to be flowing", 60_000);
    const reloadStarted = Date.now();
    const r = await cli(["reload", TOPOLOGY], 240_000);
    const switched = Date.now();
    expect({ code: r.code, stderr: r.code ? r.stderr : "" }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain("diamond 0.2.0: running");
    expect(feeding).toBe(true); // the switch happened mid-stream
    await feeder;
    await waitFor(async () => (await done()) >= fedCount && (await pending()) === 0, `all ${fedCount} entries done, nothing pending`, 120_000);
    expect(await done()).toBe(fedCount);
    expect(await pending()).toBe(0);

    // The longest pause between two completions while the stream was fed.
    const scores = ((await redis.call("ZRANGE", `${prefix}:done`, "0", "-1", "WITHSCORES")) as string[]).filter((_, i) => i % 2 === 1).map(Number);
    const during = scores.filter((t) => t >= reloadStarted - 2_000);
    let gap = 0;
    for (let i = 1; i < during.length; i++) gap = Math.max(gap, during[i]! - during[i - 1]!);
    // Every entry added after the old version had exited was done by the new one.
    const versions = (await redis.call("HGETALL", `${prefix}:version`)) as string[];
    let after = 0;
    let wrong = 0;
    for (let i = 0; i < versions.length; i += 2) {
      if (Number(versions[i]!.split("-")[0]) <= switched) continue;
      after++;
      if (versions[i + 1] !== "0.2.0") wrong++;
    }
    const view = await topologyView();
    // Processed twice: what was in flight at the switch (at least once, as promised).
    const duplicates = Number(await redis.call("GET", `${prefix}:calls`)) - callsBefore - ((await done()) - doneBefore);
    console.log(`reload under load: ${total} entries, reload took ${switched - reloadStarted} ms, longest gap between completions ${gap} ms, ${duplicates} processed twice, ${after} entries after the switch, ${wrong} of them by the old version; processes now ${view.processes.map((p) => p.version).join(",")}`);
    expect(gap).toBeLessThan(1_000);
    expect(after).toBeGreaterThan(0);
    expect(wrong).toBe(0);
    expect(view.version).toBe("0.2.0");
    expect(view.processes.every((p) => p.version === "0.2.0")).toBe(true);
  }, 420_000);

  test("the dashboard in headless Chromium: the DAG, live figures, agents, a poison entry's error, and the stop button behind the token", async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
      await page.goto(url);
      // No token typed: the page says it needs one, and shows no data.
      await page.waitForFunction(() => document.getElementById("message")?.textContent?.includes("needs its token"), null, { timeout: 15_000 });
      await page.screenshot({ path: join(shots, "1-no-token.png") });
      await page.fill("#token", TOKEN);
      await page.dispatchEvent("#token", "change");
      await page.waitForSelector('[data-node="D"]', { timeout: 15_000 });
      expect(await page.$$eval("g.node", (ns) => ns.map((n) => (n as unknown as { dataset: Record<string, string> }).dataset.node).sort())).toEqual(["$source", "A", "B", "C", "D"]);
      expect(await page.$$eval("path.edge", (es) => es.map((e) => (e as unknown as { dataset: Record<string, string> }).dataset.edge).sort())).toEqual(["$source->A", "A->B", "A->C", "B->D", "C->D"]);
      expect(await page.$$eval("#agents tbody tr", (rows) => rows.map((r) => [r.children[0]?.textContent, r.children[2]?.textContent]))).toEqual([["op-1", "alive"], ["op-2", "alive"]]);

      // The handled figure of D rises while entries are fed; the source shows its pending figure.
      const handledOfD = () => page.$eval('[data-node="D"] text:nth-of-type(2)', (t) => Number(/handled (\d+)/.exec(t.textContent ?? "")?.[1] ?? -1));
      const before = await handledOfD();
      // The topology's row is kept across updates that do not change it (a click is never lost).
      await page.$eval(`.topology[data-topology="${TOPOLOGY}"]`, (r) => ((r as unknown as { dataset: Record<string, string> }).dataset.mark = "kept"));
      const feeding = feed(3_000);
      await waitFor(async () => (await handledOfD()) > before, "D's handled figure to rise on the page", 30_000);
      expect(await page.$eval(`.topology[data-topology="${TOPOLOGY}"]`, (r) => (r as unknown as { dataset: Record<string, string> }).dataset.mark ?? "replaced")).toBe("kept");
      await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = ""));
      await page.click(`.topology[data-topology="${TOPOLOGY}"]`);
      await page.waitForFunction((t) => {
        const w = globalThis as unknown as { location: { hash: string }; document: { querySelector(s: string): unknown } };
        return w.location.hash === `#${t}` && w.document.querySelector(".topology.selected") !== null;
      }, TOPOLOGY, { timeout: 15_000 });
      expect(await page.$eval('dd[data-figure="pending"]', (d) => /^\d+$/.test(d.textContent ?? ""))).toBe(true);
      await page.screenshot({ path: join(shots, "2-live.png") });
      await feeding;

      // A poison entry: retried, then dead-lettered; the recent errors list shows it with its task.
      const [poison] = await feed(1, () => ({ poison: "p1" }));
      await page.waitForFunction((id) => [...document.querySelectorAll("#errors tbody tr")].some((r) => r.textContent?.includes(id!) && r.textContent.includes("dead-lettered")), poison, { timeout: 60_000 });
      const row = await page.$$eval("#errors tbody tr", (rows, id) => rows.map((r) => [...r.children].map((c) => c.textContent)).find((cells) => cells.includes(id)), poison);
      expect(row?.[1]).toMatch(/^A#\d+$/);
      expect(row?.[4]).toContain("poison entry p1");
      await page.click(`#errors tbody tr:has-text("dead-lettered") a`);
      await page.waitForFunction(() => document.getElementById("log-filter")?.textContent?.includes("around"), null, { timeout: 15_000 });
      await page.screenshot({ path: join(shots, "3-error.png") });

      // The stop button with a wrong token is refused; with the right one the topology stops.
      const wrong = await browser.newPage();
      await wrong.goto(`${url}/#${TOPOLOGY}`);
      await wrong.fill("#token", "not-the-token");
      await wrong.dispatchEvent("#token", "change");
      await wrong.evaluate((t) => fetch(`/api/v1/topologies/${t}/stop`, { method: "POST", headers: { authorization: "Bearer not-the-token" } }).then((r) => r.status), TOPOLOGY).then((s) => expect(s).toBe(401));
      expect((await topologyView()).status).toBe("running");
      await page.click('button[data-action="stop"]');
      await page.waitForFunction(() => document.getElementById("message")?.textContent?.includes("stop diamond: accepted"), null, { timeout: 15_000 });
      await waitFor(async () => (await topologyView()).status === "stopped", "the topology to stop", 60_000);
      await page.waitForFunction(() => document.querySelector(".topology .status")?.textContent === "stopped", null, { timeout: 15_000 });
      await page.screenshot({ path: join(shots, "4-stopped.png") });
      console.log(`dashboard screenshots in ${shots}`);
    } finally {
      await browser.close();
    }
  }, 180_000);
});

describe("the dashboard with a topology of 50 tasks × 2 instances", () => {
  test("the director pushes an update every tick to the page, at a small CPU cost", async () => {
    const { ClusterStore } = await import("../../src/roles/director/store.ts");
    const { createKeys } = await import("../../src/core/registry/keys.ts");
    const { processPlan } = await import("../../src/core/cluster/plan.ts");
    const big = redis.prefix();
    const keys = createKeys(big);
    const store = new ClusterStore(redis.client(), keys);
    // A deployed, running chain T0 → … → T49 with 2 instances each, and agents reporting all of them running.
    const tasks = Array.from({ length: 50 }, (_, i) => `T${i}`);
    const exe = { executable: "big-x-1", sha256: "f".repeat(64), size: 1 };
    const d = { topology: "big", version: "1", project: "big", deployed_at: Date.now(), graph: "", edges: tasks.slice(1).map((t, i) => [tasks[i]!, t] as [string, string]), topology_executable: exe, tasks: tasks.map((name) => ({ name, workers: 2, join: "union" as const, executable: exe, isolate: true })), timeout_ms: 1000 };
    await store.putDeployment(d);
    await store.putTopologyState({ name: "big", version: "1", desired: "running", changed_at: Date.now() });
    const plan = processPlan(d);
    const agentsN = 4;
    const refresh = async () => {
      const now = Date.now();
      for (let a = 0; a < agentsN; a++) {
        const mine = plan.filter((_, i) => i % agentsN === a);
        await redis.call("SET", keys.agent(`big-${a}`), JSON.stringify({ name: `big-${a}`, host: "127.0.0.1", slots: 40, used: mine.length, version: "x", pid: 1, started_at: now, heartbeat_at: now }), "PX", 5_000);
        await redis.call("SET", keys.assignment(`big-${a}`), JSON.stringify({ agent: `big-${a}`, generation: 1, processes: mine, director: "test", written_at: now }));
        await redis.call("SET", keys.agentProcesses(`big-${a}`), JSON.stringify({ agent: `big-${a}`, generation: 1, at: now, processes: mine.map((p) => ({ id: p.id, kind: p.kind, topology: "big", task: p.task, instance: p.instance, version: "1", state: "running", pid: 1000 + a, restarts: 0, last_exit: null, uptime_ms: 10_000, reason: null })) }), "PX", 5_000);
      }
      const stats = { topology: "big", source: "redis-stream", read: now % 100_000, completed: 0, retried: 0, dead_lettered: 0, inflight: 10, seconds: 1, per_second: 0, sessions: 100, exhausted: false, tasks: Object.fromEntries(tasks.map((t) => [t, { handled: now % 100_000, errors: 0, queued: 0, inflight: 1, p50_ms: 1, p99_ms: 2 }])) };
      await redis.call("HSET", keys.stats("big"), "{big}:x:1", JSON.stringify({ at: now, stats }));
    };
    await refresh();
    const timer = setInterval(() => void refresh(), 1_000);
    const port = await freePort();
    const home = tempProject({}, "tempest-director-");
    const d2 = startTempest(["director", "--listen", `127.0.0.1:${port}`, "--redis", redis.url, "--home", home], { env: { TEMPEST_KEY_PREFIX: big, TEMPEST_DASHBOARD_TICK_MS: "1000" } });
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
    try {
      await d2.waitForStderr(/listening on/);
      const page = await browser.newPage({ viewport: { width: 1400, height: 1600 } });
      await page.goto(`http://127.0.0.1:${port}/#big`);
      await page.waitForFunction(() => document.querySelectorAll("g.node").length === 51, null, { timeout: 30_000 });
      const cpu = () => {
        const f = readFileSync(`/proc/${d2.proc.pid}/stat`, "utf8").slice(readFileSync(`/proc/${d2.proc.pid}/stat`, "utf8").lastIndexOf(")") + 2).split(" ");
        return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in seconds (USER_HZ 100)
      };
      const updates = new Set<string>();
      const cpu0 = cpu();
      const t0 = Date.now();
      while (Date.now() - t0 < 10_000) {
        updates.add(await page.evaluate(() => document.body.dataset.updatedAt ?? ""));
        await Bun.sleep(100);
      }
      const seconds = (Date.now() - t0) / 1000;
      const cpuShare = (cpu() - cpu0) / seconds;
      const rows = await page.$$eval("#processes tbody tr", (r) => r.length);
      await page.screenshot({ path: join(shots, "5-fifty-tasks.png"), fullPage: true });
      console.log(`50 tasks × 2 instances: ${updates.size - 1} page updates in ${seconds.toFixed(1)} s (tick 1 s), director CPU ${(cpuShare * 100).toFixed(1)}% of one core, ${rows} process rows`);
      expect(rows).toBe(101);
      expect(updates.size - 1).toBeGreaterThanOrEqual(7);
      expect(cpuShare).toBeLessThan(0.5);
    } finally {
      clearInterval(timer);
      await browser.close();
    }
  }, 120_000);
});
