import { describe, expect, test } from "bun:test";
import type { PlannedProcess } from "../../core/cluster/model.ts";
import { sameSpec } from "../../core/supervise/config.ts";
import { resolveAgentOptions } from "./options.ts";
import { processSpec } from "./specs.ts";
import { systemdUnit } from "./systemd.ts";

const ctx = { home: "/h", redis: "redis://r:6379/0", name: "n1", advertise: "127.0.0.1" };
const topo: PlannedProcess = { id: "y", kind: "topology", topology: "y", instance: 0, version: "1", executable: "demo-y-1", sha256: "a".repeat(64), stop_timeout_ms: 15_000 };
const task: PlannedProcess = { ...topo, id: "y.A.2", kind: "task", task: "A", instance: 2, executable: "demo-A-1" };

describe("processSpec", () => {
  test("a topology listens on loopback when the agent advertises loopback, else on every address", () => {
    const s = processSpec(topo, ctx);
    expect([s.name, s.command, s.args, s.cwd, s.instances, s.restart, s.stopTimeoutMs]).toEqual(["y", "/h/bin/demo-y-1", ["--host", "127.0.0.1", "--port", "0"], "/h/run/y", 1, "always", 15_000]);
    expect(processSpec(topo, { ...ctx, advertise: "10.0.0.5" }).args).toEqual(["--host", "0.0.0.0", "--port", "0"]);
    expect(s.env).toMatchObject({ TEMPEST_REDIS_URL: "redis://r:6379/0", TEMPEST_AGENT_NAME: "n1", TEMPEST_ADVERTISE_HOST: "127.0.0.1", TEMPEST_PROCESS_ID: "y" });
  });
  test("a task discovers its topology and carries its instance", () => {
    expect(processSpec(task, ctx).args).toEqual(["--discover", "--instance", "2"]);
  });
  test("a new artifact under the same file name is a changed spec (so it restarts)", () => {
    expect(sameSpec(processSpec(task, ctx), processSpec(task, ctx))).toBe(true);
    expect(sameSpec(processSpec(task, ctx), processSpec({ ...task, sha256: "b".repeat(64) }, ctx))).toBe(false);
  });
});

describe("resolveAgentOptions", () => {
  test("defaults, then environment, then flags", () => {
    const o = resolveAgentOptions({ name: "n1" }, { HOME: "/u" });
    expect(o).toMatchObject({ director: "http://127.0.0.1:7700", redis: "redis://127.0.0.1:6379/0", name: "n1", advertise: "127.0.0.1", slots: 8, ttlMs: 10_000, beatMs: 2_000 });
    expect(resolveAgentOptions({ name: "n1" }, { TEMPEST_DIRECTOR_URL: "http://d:1/", TEMPEST_REDIS_URL: "redis://x:1/2", TEMPEST_AGENT_TTL_MS: "3000", TEMPEST_AGENT_BEAT_MS: "300" })).toMatchObject({ director: "http://d:1", redis: "redis://x:1/2", ttlMs: 3000, beatMs: 300 });
    expect(resolveAgentOptions({ name: "n1", slots: "3", director: "http://e:2" }, { TEMPEST_DIRECTOR_URL: "http://d:1" })).toMatchObject({ slots: 3, director: "http://e:2" });
  });
  test.each([
    [{ slots: "x" }, {}, "--slots x is not a whole number above 0"],
    [{ slots: "1.5" }, {}, "--slots 1.5 is not a whole number above 0"],
    [{ name: "a b" }, {}, '--name "a b" is not a plain name'],
    [{ director: "7700" }, {}, "--director 7700 is not an http(s) URL"],
    [{}, { TEMPEST_AGENT_BEAT_MS: "20000" }, "TEMPEST_AGENT_BEAT_MS 20000 is not below TEMPEST_AGENT_TTL_MS 10000"],
  ])("refuses %j %j", (flags, env, message) => {
    expect(() => resolveAgentOptions({ name: "n1", ...flags }, env)).toThrow(message);
  });
});

describe("systemdUnit", () => {
  test("quotes what systemd would expand or split", () => {
    const unit = systemdUnit("/opt/tempest", ["--home", "/var/lib/my home", "--name", "50%$x"]);
    expect(unit).toContain('\nExecStart=/opt/tempest agent --home "/var/lib/my home" --name 50%%$$x\n');
  });
});
