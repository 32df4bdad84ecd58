/**
 * The multi-host test network itself (test/helpers/netns.ts): three namespaces on a bridge,
 * Redis in the root namespace on the bridge ip, links cut and restored, a TCP path between two
 * namespaces, and nothing left behind. The cluster tests build on exactly these guarantees.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { canUseNetns, createHosts, sweepStale, type TestHost, type TestNet } from "../helpers/netns.ts";
import { startRedis, stopAllRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/tempest.ts";

const can = canUseNetns();
if (!can.ok) console.log(`skipping multi-host tests: ${can.why}`);

/** Runs a command in a host's namespace to completion, killed after `timeoutMs`. */
async function run(host: TestHost, args: string[], timeoutMs = 5_000): Promise<{ code: number | null; out: string; err: string }> {
  const p = host.exec(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out: out.trim(), err: err.trim() };
}

describe.skipIf(!can.ok)("multi-host test network", () => {
  let net: TestNet;
  let redis: TestRedis;
  const ping = (host: TestHost, timeoutMs = 3_000) => run(host, ["redis-cli", "-h", net.bridgeIp, "-p", String(redis.port), "PING"], timeoutMs);

  beforeAll(async () => {
    net = await createHosts(3);
    redis = await startRedis({ bind: ["127.0.0.1", net.bridgeIp] });
  });
  afterAll(async () => {
    await stopAllRedis();
    await net?.destroy();
  });

  test("three hosts with distinct addresses on one /24, each with its own namespace", () => {
    expect(net.hosts.map((h) => h.ip)).toEqual([10, 11, 12].map((n) => `${net.subnet}.${n}`));
    expect(net.bridgeIp).toBe(`${net.subnet}.1`);
    const namespaces = Bun.spawnSync(["ip", "netns", "list"]).stdout.toString();
    for (const h of net.hosts) {
      expect(namespaces).toContain(h.name);
      expect(h.veth.length).toBeLessThanOrEqual(15);
    }
    expect(net.bridge.length).toBeLessThanOrEqual(15);
  });

  test("every host reaches Redis on the bridge ip", async () => {
    for (const h of net.hosts) expect(await ping(h)).toMatchObject({ code: 0, out: "PONG" });
  });

  test("linkDown cuts one host off within a couple of seconds while the others still work; linkUp restores it", async () => {
    const [, cut, other] = net.hosts as [TestHost, TestHost, TestHost];
    await cut.linkDown();
    const started = Date.now();
    await waitFor(async () => (await ping(cut, 2_000)).out !== "PONG", "host 1's ping to fail", 3_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await ping(other)).toMatchObject({ code: 0, out: "PONG" });
    await cut.linkUp();
    await waitFor(async () => (await ping(cut, 2_000)).out === "PONG", "host 1's ping to work again", 5_000);
  });

  test("a TCP server inside namespace 0 on its ip is reachable from namespace 2 (the data plane path)", async () => {
    const [h0, , h2] = net.hosts as [TestHost, TestHost, TestHost];
    const server = h0.exec(
      [process.execPath, "-e", `const s = Bun.listen({ hostname: ${JSON.stringify(h0.ip)}, port: 0, socket: { data(sock, d) { sock.write("echo:" + d.toString()); sock.end(); } } }); console.log("port " + s.port);`],
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    try {
      const reader = server.stdout.getReader();
      let text = "";
      const port = await waitFor(async () => {
        const { value, done } = await reader.read();
        if (done) throw new Error("the server in namespace 0 exited before it listened");
        text += new TextDecoder().decode(value);
        return /port (\d+)/.exec(text)?.[1];
      }, "the server in namespace 0 to listen", 10_000);
      const client = await run(h2, [process.execPath, "-e", `const net = require("node:net"); const c = net.connect(${port}, ${JSON.stringify(h0.ip)}, () => c.write("hello")); c.on("data", (d) => { process.stdout.write(d.toString()); c.end(); }); c.on("error", (e) => { console.error(e.message); process.exit(1); });`], 10_000);
      expect(client).toMatchObject({ code: 0, out: "echo:hello" });
      // And the root namespace is not on that path by accident: loopback in namespace 2 has no server.
      const local = await run(h2, [process.execPath, "-e", `require("node:net").connect(${port}, "127.0.0.1").on("error", () => process.exit(3)).on("connect", () => process.exit(0));`], 10_000);
      expect(local.code).toBe(3);
    } finally {
      server.kill("SIGKILL");
      await server.exited;
    }
  });

  test("destroy kills what runs in the namespaces and leaves no namespace, bridge or veth; a second destroy is harmless", async () => {
    const sleeper = net.hosts[1]!.exec(["sleep", "600"], { stdout: "ignore", stderr: "ignore" });
    await waitFor(() => net.hosts[1]!.pids().includes(sleeper.pid), "the sleeper to be in namespace 1");
    await net.destroy();
    await net.destroy();
    await sleeper.exited;
    expect(sleeper.signalCode).toBe("SIGKILL");
    const namespaces = Bun.spawnSync(["ip", "netns", "list"]).stdout.toString();
    const links = Bun.spawnSync(["ip", "-o", "link"]).stdout.toString();
    for (const h of net.hosts) expect(namespaces).not.toContain(h.name);
    expect(links).not.toContain(net.bridge);
    expect(links).not.toContain(`tpv${net.id}`);
  });

  test("sweepStale removes what a crashed run left behind, and nothing of a live run", async () => {
    // A run that "crashed": its namespace and bridge exist, its state names a pid that is gone.
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    const id = "dead" + Math.floor(Math.random() * 256).toString(16).padStart(2, "0");
    const ns = `tempest-${id}-0`;
    Bun.spawnSync(["ip", "netns", "add", ns]);
    Bun.spawnSync(["ip", "link", "add", `tpb${id}`, "type", "bridge"]);
    await Bun.write(`/run/tempest-netns/${id}.json`, JSON.stringify({ id, pid: dead.pid, start: "0", namespaces: [ns], bridge: `tpb${id}`, created_at: 0 }));
    const alive = await createHosts(1, { sweep: false });
    try {
      const { removed } = sweepStale();
      expect(removed).toContain(ns);
      expect(removed).toContain(`tpb${id}`);
      expect(Bun.spawnSync(["ip", "netns", "list"]).stdout.toString()).not.toContain(ns);
      expect(Bun.spawnSync(["ip", "netns", "list"]).stdout.toString()).toContain(alive.hosts[0]!.name);
      expect(Bun.spawnSync(["ip", "-o", "link"]).stdout.toString()).toContain(alive.bridge);
    } finally {
      await alive.destroy();
    }
  });
});
