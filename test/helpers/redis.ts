import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

/**
 * A real redis-server for one test file: a free port, its own folder, stopped by pid even when
 * the test fails. `scripts/ensure-test-deps.ts` (run by `npm test`) makes sure the binary exists.
 */
export interface TestRedis {
  port: number;
  url: string;
  /** The URL through one of the `bind` addresses (e.g. the bridge ip, for processes in a namespace). */
  urlAt(host: string): string;
  dir: string;
  /** A key prefix unique to this call: tests never share keys. */
  prefix(): string;
  /** redis-cli-like command; returns the reply as ioredis gives it. */
  call(...args: Array<string | number>): Promise<unknown>;
  /** The shared ioredis client, for what `call` cannot carry (binary values). */
  client(): import("ioredis").Redis;
  /** XADDs `n` entries (fields from `fields(i)`, i = 1..n) in pipelined batches; returns their ids. */
  xadd(key: string, n: number, fields: (i: number) => Record<string, string>): Promise<string[]>;
  stop(): Promise<void>;
  /** Stops and starts the same server (same port and folder, so AOF data comes back). */
  restart(opts?: { downMs?: number }): Promise<void>;
}

const servers = new Set<TestRedis>();
let prefixCounter = 0;

/**
 * `bind` lists the addresses redis-server listens on (default loopback only). Binding beyond
 * loopback (e.g. a test network's bridge, test/helpers/netns.ts) turns protected mode off, since
 * test servers have no password; `urlAt(ip)` is then the URL a remote host uses.
 */
export async function startRedis(opts: { appendonly?: boolean; bind?: string[] } = {}): Promise<TestRedis> {
  const bind = opts.bind?.length ? opts.bind : ["127.0.0.1"];
  const loopbackOnly = bind.every((a) => a === "127.0.0.1" || a === "::1" || a === "localhost");
  /** Where this process reaches it: loopback when bound there, else the first address. */
  const local = bind.includes("127.0.0.1") ? "127.0.0.1" : (bind[0] as string);
  const dir = mkdtempSync(join(tmpdir(), "tempest-redis-"));
  const port = await freePort();
  let proc: Subprocess | undefined;
  const { default: Redis } = await import("ioredis");
  let client: InstanceType<typeof Redis> | undefined;

  const launch = async () => {
    proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", ...bind, ...(loopbackOnly ? [] : ["--protected-mode", "no"]), "--dir", dir, "--save", "", "--appendonly", opts.appendonly ? "yes" : "no", "--appendfsync", "always"], { stdout: "ignore", stderr: "ignore" });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({ port, host: local, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on("error", () => {});
      try {
        await probe.connect();
        if ((await probe.ping()) === "PONG") {
          probe.disconnect();
          return;
        }
      } catch {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await Bun.sleep(20);
    }
  };
  const kill = async () => {
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    proc = undefined;
  };

  const conn = () => {
    if (!client) {
      client = new Redis({ port, host: local, maxRetriesPerRequest: 3 });
      client.on("error", () => {});
    }
    return client;
  };
  await launch();
  const server: TestRedis = {
    port,
    url: `redis://${local}:${port}/0`,
    urlAt: (host) => `redis://${host}:${port}/0`,
    dir,
    prefix: () => `t${process.pid}-${++prefixCounter}`,
    client: () => conn(),
    async call(...args) {
      return conn().call(String(args[0]), ...args.slice(1).map(String));
    },
    async xadd(key, n, fields) {
      const ids: string[] = [];
      for (let start = 1; start <= n; start += 1000) {
        const p = conn().pipeline();
        for (let i = start; i < Math.min(n + 1, start + 1000); i++) p.xadd(key, "*", ...Object.entries(fields(i)).flat());
        for (const [err, id] of (await p.exec()) ?? []) {
          if (err) throw err;
          ids.push(String(id));
        }
      }
      return ids;
    },
    async stop() {
      client?.disconnect();
      client = undefined;
      await kill();
      rmSync(dir, { recursive: true, force: true });
      servers.delete(server);
    },
    async restart({ downMs = 0 } = {}) {
      client?.disconnect();
      client = undefined;
      await kill();
      if (downMs) await Bun.sleep(downMs); // the outage itself is what is being tested
      await launch();
    },
  };
  servers.add(server);
  return server;
}

/** Stops every server started by this file (call in afterAll). */
export async function stopAllRedis(): Promise<void> {
  for (const s of [...servers]) await s.stop();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
