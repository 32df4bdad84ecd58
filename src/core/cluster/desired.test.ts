import { describe, expect, test } from "bun:test";
import { desiredFor } from "./desired.ts";
import type { Deployment, ProcessReport, TopologyState } from "./model.ts";
import { processPlan } from "./plan.ts";

function deployment(version: string): Deployment {
  const exe = (n: string) => ({ executable: `p-${n}-${version}`, sha256: `sha-${version}`, size: 1 });
  return { topology: "d", version, project: "p", deployed_at: 0, graph: "", edges: [], timeout_ms: 1000, topology_executable: exe("d"), tasks: [{ name: "A", workers: 1, join: "union", executable: exe("A") }, { name: "B", workers: 2, join: "union", executable: exe("B") }] };
}
const deployments = new Map([["1", deployment("1")], ["2", deployment("2")]]);
const state = (s: Partial<TopologyState>): TopologyState => ({ name: "d", version: "1", desired: "running", changed_at: 0, ...s });
/** Every process of a version reported with a state. */
const reports = (version: string, st: ProcessReport["state"] = "running", uptime = 5000, only?: "topology" | "task"): ProcessReport[] =>
  processPlan(deployments.get(version)!).filter((p) => !only || p.kind === only).map((p) => ({ id: p.id, kind: p.kind, topology: "d", task: p.task, instance: p.instance, version, state: st, pid: 1, restarts: 0, last_exit: null, uptime_ms: uptime, reason: null }));
const ids = (r: ReturnType<typeof desiredFor>) => r.entries.map((e) => [e.name, e.processes.map((p) => p.id)]);

describe("desiredFor", () => {
  test("running: the plan of its version", () => {
    const r = desiredFor({ state: state({}), deployments, reported: [] });
    expect(ids(r)).toEqual([["d", ["d@1", "d@1.A.0", "d@1.B.0", "d@1.B.1"]]]);
    expect(r.next).toBeNull();
  });

  test("a live scale overrides the deployment's workers", () => {
    const r = desiredFor({ state: state({ workers: { B: 3 } }), deployments, reported: [] });
    expect(r.entries[0]!.processes.filter((p) => p.task === "B").map((p) => p.id)).toEqual(["d@1.B.0", "d@1.B.1", "d@1.B.2"]);
  });

  test("stop: the topology process goes first; its tasks stay while it still runs", () => {
    const r = desiredFor({ state: state({ desired: "stopped" }), deployments, reported: reports("1") });
    expect(ids(r)).toEqual([["d@1~retiring", ["d@1.A.0", "d@1.B.0", "d@1.B.1"]]]);
  });

  test("stop: once the topology process is gone, the tasks go too", () => {
    const r = desiredFor({ state: state({ desired: "stopped" }), deployments, reported: reports("1", "running", 5000, "task") });
    expect(ids(r)).toEqual([]);
  });

  test("reload starting: the new version is its own entry beside the old one", () => {
    const r = desiredFor({ state: state({ reload: { from: "1", to: "2", phase: "starting", since: 0 } }), deployments, reported: reports("1") });
    expect(ids(r)).toEqual([["d", ["d@1", "d@1.A.0", "d@1.B.0", "d@1.B.1"]], ["d@2", ["d@2", "d@2.A.0", "d@2.B.0", "d@2.B.1"]]]);
    expect(r.next).toBeNull();
  });

  test("reload starting: healthy only when every new process has run a second", () => {
    const base = { state: state({ reload: { from: "1", to: "2", phase: "starting" as const, since: 0 } }), deployments };
    expect(desiredFor({ ...base, reported: [...reports("1"), ...reports("2", "running", 200)] }).next).toBeNull();
    expect(desiredFor({ ...base, reported: [...reports("1"), ...reports("2").slice(1)] }).next).toBeNull();
    expect(desiredFor({ ...base, reported: [...reports("1"), ...reports("2")] }).next?.reload?.phase).toBe("draining");
  });

  test("reload draining: the new version runs, the old retires topology first", () => {
    const s = state({ reload: { from: "1", to: "2", phase: "draining", since: 0 } });
    const r = desiredFor({ state: s, deployments, reported: [...reports("1"), ...reports("2")] });
    expect(ids(r)).toEqual([["d", ["d@2", "d@2.A.0", "d@2.B.0", "d@2.B.1"]], ["d@1~retiring", ["d@1.A.0", "d@1.B.0", "d@1.B.1"]]]);
    expect(r.next).toBeNull();
    const after = desiredFor({ state: s, deployments, reported: reports("2") });
    expect(after.next).toEqual({ ...s, version: "2", reload: undefined });
  });

  test("a stop during a reload retires both versions, then lands on the new one", () => {
    const s = state({ desired: "stopped", reload: { from: "1", to: "2", phase: "starting", since: 0 } });
    expect(ids(desiredFor({ state: s, deployments, reported: [...reports("1"), ...reports("2")] })).map((e) => e[0])).toEqual(["d@1~retiring", "d@2~retiring"]);
    expect(desiredFor({ state: s, deployments, reported: [] }).next).toEqual({ ...s, version: "2", reload: undefined });
  });
});
