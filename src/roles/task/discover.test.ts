import { describe, expect, test } from "bun:test";
import { pickTopology } from "./discover.ts";

const rec = (host: string, port: number, started_at: number) => JSON.stringify({ kind: "topology", id: `{y}:${host}:${port}`, topology: "y", host, port, pid: 1, version: "1", started_at, heartbeat_at: started_at });

describe("pickTopology", () => {
  test("the newest live record wins (a moved or reloaded topology)", () => {
    expect(pickTopology([rec("10.0.0.1", 4000, 1), null, rec("10.0.0.2", 4001, 5), rec("10.0.0.3", 4002, 3)])).toEqual({ host: "10.0.0.2", port: 4001 });
  });
  test("a task of one deployed version follows only a topology of that version", () => {
    const v = (host: string, started: number, deploy_version: string) => JSON.stringify({ host, port: 4000, started_at: started, deploy_version });
    expect(pickTopology([v("old", 1, "0.1.0"), v("new", 2, "0.2.0")], "0.1.0")).toEqual({ host: "old", port: 4000 });
    expect(pickTopology([v("old", 1, "0.1.0"), v("new", 2, "0.2.0")], "0.2.0")).toEqual({ host: "new", port: 4000 });
    expect(pickTopology([v("old", 1, "0.1.0")], "0.3.0")).toBeNull();
  });

  test("nothing usable is null", () => {
    expect(pickTopology([])).toBeNull();
    expect(pickTopology([null, "{", JSON.stringify({ host: "h" })])).toBeNull();
  });
});
