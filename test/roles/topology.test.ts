/**
 * The topology role in this process, on port 0: a real server, source and task worker, no
 * compiled binary. What `tempest topology` does around it (signals, summary file) is e2e's.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { loadProject } from "../../src/core/project/load.ts";
import type { Topology } from "../../src/core/project/model.ts";
import { taskSpecs } from "../../src/core/project/specs.ts";
import { unitConcurrency, unitOf, workerUnits } from "../../src/core/project/workers.ts";
import { createLogger, type Logger } from "../../src/roles/log.ts";
import { createSource } from "../../src/roles/sources/index.ts";
import { fixedAddress, startTaskWorker, type TaskWorkerHandle } from "../../src/roles/task/worker.ts";
import { startTopology, type TopologyHandle } from "../../src/roles/topology/service.ts";
import { defineTask, type TaskDefinition } from "../../src/sdk/index.ts";
import { registerSdkModule } from "../../src/sdk/plugin.ts";
import { TASK_PASS } from "../helpers/projects.ts";
import { cleanupTempDirs, tempProject, waitFor } from "../helpers/tempest.ts";

const topologies: TopologyHandle[] = [];
const workers: TaskWorkerHandle[] = [];

afterEach(async () => {
  // Without drain: whatever a failed test left in flight stays at the (throwaway) source.
  await Promise.all(topologies.splice(0).map((t) => t.stop("test cleanup", { drain: false })));
  await Promise.all(workers.splice(0).map((w) => w.stop("test cleanup")));
});
afterAll(cleanupTempDirs);
// Loading a project imports its task modules, which import "tempest".
registerSdkModule();

/** A logger whose lines are kept here instead of going to stderr. */
function captured(tag: string): { log: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  return { log: createLogger(tag, { write: (t) => lines.push(t) }), lines, text: () => lines.join("") };
}

/** Topology `y`, `A --> B`, loaded from a temp project with this Runtime.toml. */
async function loadTopology(runtime: string): Promise<Topology> {
  const dir = tempProject({
    "Project.toml": `[project]\nmembers = ["projects/main.toml"]\n`,
    "projects/main.toml": `[project]\nname = "demo"\n\n[[topology]]\nname = "y"\ngraph = """\n    A --> B;\n"""\n\n[[topology.task]]\nname = "A"\ntype = "src/tasks/a.ts"\n\n[[topology.task]]\nname = "B"\ntype = "src/tasks/b.ts"\n`,
    "src/tasks/a.ts": TASK_PASS,
    "src/tasks/b.ts": TASK_PASS,
    "Runtime.toml": runtime,
  });
  const { project, problems } = await loadProject({ dir });
  expect(problems.filter((p) => p.severity === "error")).toEqual([]);
  return project!.topologies[0]!;
}

const pass = defineTask({ handle: (msg: unknown) => msg });

/** Starts the topology on 127.0.0.1:0 with the source its runtime config names. */
async function topologyOf(topology: Topology) {
  const out = captured("topology");
  const handle = await startTopology({ topology, source: await createSource(topology, out.log), host: "127.0.0.1", port: 0, log: out.log });
  topologies.push(handle);
  return { handle, ...out };
}

/** Starts the worker that hosts `task` (and whatever core fuses with it), in this process. */
function workerFor(topology: Topology, handle: TopologyHandle, task: string, definition: TaskDefinition = pass) {
  const unit = unitOf(topology, task)!;
  const out = captured(`${task}#0`);
  const worker = startTaskWorker({
    topology: topology.name,
    task,
    instance: "0",
    hosted: unit.tasks.map((name) => ({ name, definition, log: out.log })),
    specs: taskSpecs(topology),
    resolve: fixedAddress({ host: handle.host, port: handle.port }),
    concurrency: unitConcurrency(topology, unit),
    handlerTimeoutMs: topology.runtime.message.timeout,
    log: out.log,
  });
  workers.push(worker);
  return { worker, ...out };
}

describe("the topology role in process", () => {
  test("a finite source: every message completes, finished resolves with the summary, the worker is told to shut down", async () => {
    const topology = await loadTopology(`[topology.y.source]\ntype = "generator"\ncount = 20\n`);
    expect(workerUnits(topology).map((u) => u.tasks)).toEqual([["A", "B"]]);
    const topo = await topologyOf(topology);
    expect(topo.handle.port).toBeGreaterThan(0);
    expect(topo.text()).toContain(`listening on 127.0.0.1:${topo.handle.port}`);
    const { worker } = workerFor(topology, topo.handle, "A");
    const summary = await topo.handle.finished;
    expect(summary).toMatchObject({ topology: "y", source: "generator", read: 20, completed: 20, retried: 0, dead_lettered: 0, inflight: 0, exhausted: true });
    expect(summary.tasks.A?.handled).toBe(20);
    expect(summary.tasks.B?.handled).toBe(20);
    await worker.finished; // the topology's shutdown ends it
    expect(topo.text()).not.toContain("stopping");
    // A stop after the end changes nothing and says nothing: the same summary.
    expect(await topo.handle.stop("too late")).toBe(summary);
    expect(topo.text()).not.toContain("too late");
  }, 30_000);

  test("stop() drains what is in flight, reads nothing more, and resolves", async () => {
    const topology = await loadTopology(`[topology.y.source]\ntype = "generator"\ncount = 0\nrate = 200\n`);
    const topo = await topologyOf(topology);
    const { worker } = workerFor(topology, topo.handle, "A");
    await waitFor(() => topo.handle.summary().completed >= 10, "10 messages to complete", 20_000);
    const summary = await topo.handle.stop("test");
    expect(topo.text()).toMatch(/stopping \(test\): no new messages; finishing \d+ in flight/);
    expect(summary.read).toBeGreaterThanOrEqual(10);
    expect(summary).toMatchObject({ completed: summary.read, inflight: 0, retried: 0, dead_lettered: 0, exhausted: false });
    expect(await topo.handle.finished).toBe(summary);
    expect(topo.text()).not.toContain("unfinished");
    await worker.finished;
  }, 30_000);

  test("a stop with no task connected finishes at once, leaving what is in flight at the source", async () => {
    // B runs alone and its calls never settle; its worker stops anyway (after its 10 s grace),
    // so their roots stay in flight with no task connected.
    const topology = await loadTopology(`[topology.y.source]\ntype = "generator"\ncount = 5\n\n[topology.y.task.B]\nisolate = true\n`);
    expect(workerUnits(topology).map((u) => u.tasks)).toEqual([["A"], ["B"]]);
    const topo = await topologyOf(topology);
    const a = workerFor(topology, topo.handle, "A");
    await waitFor(() => topo.handle.summary().sessions === 1, "A's session to open");
    expect(topo.handle.summary().read).toBe(0); // nothing is read while B has no worker
    const b = workerFor(topology, topo.handle, "B", defineTask({ handle: () => new Promise(() => {}) }));
    await waitFor(() => topo.handle.summary().tasks.B?.inflight === 5, "B to hold the 5 messages", 20_000);
    await Promise.all([a.worker.stop("test"), b.worker.stop("test")]);
    await waitFor(() => topo.handle.summary().sessions === 0, "both sessions to close");
    const started = Date.now();
    const summary = await topo.handle.stop("test");
    // Far below the drain deadline (message.timeout + 1 s = 31 s): nobody is left to finish them.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(summary).toMatchObject({ read: 5, completed: 0, inflight: 5, dead_lettered: 0 });
    expect(topo.text()).toContain("stopping (test): no new messages; finishing 5 in flight");
    expect(topo.text()).toContain("warn: stopping with 5 message(s) unfinished and no task connected; they stay unacked at the source");
  }, 45_000);

  test("dead letters: finished waits for their writes, and each one is in the dead-letter file", async () => {
    const topology = await loadTopology(`[topology.y.source]\ntype = "generator"\ncount = 3\n\n[topology.y.message]\nretry = 0\n`);
    const topo = await topologyOf(topology);
    workerFor(topology, topo.handle, "A", defineTask({ handle: (msg: { seq: number }) => { throw new Error(`no ${msg.seq}`); } }));
    const summary = await topo.handle.finished;
    expect(summary).toMatchObject({ read: 3, completed: 0, dead_lettered: 3, inflight: 0, exhausted: true });
    const letters = (await Bun.file(topology.runtime.dead_letter.path).text()).trim().split("\n").map((l) => JSON.parse(l) as { id: string; error: string });
    expect(letters.map((l) => l.id).sort()).toEqual(["1", "2", "3"]);
    expect(topo.text()).toMatch(/warn: message 1 dead-lettered after 1 attempt\(s\): A: no 1 at /);
  }, 30_000);

  test("a stop without drain ends at the next tick; what is in flight stays at the source", async () => {
    const topology = await loadTopology(`[topology.y.source]\ntype = "generator"\ncount = 2\n`);
    const topo = await topologyOf(topology);
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    workerFor(topology, topo.handle, "A", defineTask({ handle: async (msg: unknown) => (await held, msg) }));
    try {
      await waitFor(() => topo.handle.summary().tasks.A?.inflight === 2, "both messages to be held by A", 20_000);
      const summary = await topo.handle.stop("SIGUSR2", { drain: false });
      expect(summary).toMatchObject({ read: 2, completed: 0, inflight: 2 });
      expect(topo.text()).toContain("stopping (SIGUSR2): no new messages; 2 in flight stay at the source");
      expect(topo.text()).toContain("warn: stopping with 2 message(s) unfinished; they stay unacked at the source");
    } finally {
      release(); // the worker stops once its handlers return
    }
  }, 30_000);
});
