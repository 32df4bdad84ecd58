import { expect, test } from "bun:test";
import { formatStatus, type ServiceStatus } from "./status.ts";

test("the services table keeps its columns apart when a fused worker's name is long", () => {
  const service = (o: Partial<ServiceStatus>): ServiceStatus => ({ kind: "task", id: "x", topology: "orders", host: "127.0.0.1", pid: 4242, version: "0.1.0", started_at: 0, heartbeat_at: 0, uptime_s: 12, heartbeat_age_s: 0.4, ...o });
  const text = formatStatus({ services: [service({ kind: "topology", port: 37261 }), service({ task: "validate", instance: "0", tasks: ["validate", "score", "settle"] })], topologies: [] }, "redis://127.0.0.1:6379/0");
  const lines = text.split("\n");
  // Before: `validate#0 (+score,settle)127.0.0.1`, the name running into the address.
  expect(lines[3]).toMatch(/validate#0 \(\+score,settle\) {2,}127\.0\.0\.1 /);
  // Every row's address starts where the header's does.
  const at = lines[1]!.indexOf("host:port");
  expect(lines[2]!.indexOf("127.0.0.1:37261")).toBe(at);
  expect(lines[3]!.indexOf("127.0.0.1")).toBe(at);
});
