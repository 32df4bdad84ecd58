import { hostname } from "node:os";
import { join } from "node:path";
import { isLoopback } from "../../core/auth.ts";
import { TempestError } from "../../core/errors.ts";
import { createKeys } from "../../core/registry/keys.ts";
import { createLogger, type Logger } from "../log.ts";
import { connectRedis } from "../redis/connect.ts";
import { createApi } from "./api.ts";
import { ArtifactStore } from "./artifacts.ts";
import { SchedulerLease } from "./lease.ts";
import { startSchedulerLoop } from "./scheduler-loop.ts";
import { ClusterStore } from "./store.ts";

export interface DirectorOptions {
  host: string;
  port: number;
  redisUrl: string;
  /** Where the flag came from, for error lines. */
  redisWhere: string;
  home: string;
  token?: string;
  log?: Logger;
  env?: Record<string, string | undefined>;
}

export interface DirectorHandle {
  url: string;
  stop(): Promise<void>;
}

/**
 * The control plane (DESIGN.md §9): the HTTP API, the artifact store and, while it holds the
 * lease, the scheduler. Its state is in Redis and its artifacts on disk, so it can be killed
 * and restarted (or run twice) at any time; the data plane never waits for it.
 */
export async function startDirector(opts: DirectorOptions): Promise<DirectorHandle> {
  const log = opts.log ?? createLogger("director");
  const env = opts.env ?? process.env;
  if (!opts.token && !isLoopback(opts.host)) {
    throw new TempestError("E_USAGE", `refusing to listen on ${opts.host} without a token: anyone who reaches it could deploy and run code`, {
      hint: "set TEMPEST_TOKEN (the same on every agent and CLI), or listen on 127.0.0.1",
    });
  }
  const redis = await connectRedis(opts.redisUrl, { name: "tempest:director", where: opts.redisWhere, log });
  const keys = createKeys();
  const store = new ClusterStore(redis, keys);
  const artifacts = new ArtifactStore(join(opts.home, "artifacts"));
  const id = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const lease = new SchedulerLease(redis, keys.leader(), id, Number(env.TEMPEST_DIRECTOR_LEASE_MS) || 5_000);
  let loop: ReturnType<typeof startSchedulerLoop> | undefined;
  const fetch = createApi({ store, artifacts, token: opts.token, log, poke: () => loop?.poke(), tickMs: Number(env.TEMPEST_DASHBOARD_TICK_MS) || 1_000 });
  let server: ReturnType<typeof Bun.serve>;
  try {
    // Uploads are whole executables (~100 MiB): no body limit below that; idle timeout for `logs -f`.
    server = Bun.serve({ hostname: opts.host, port: opts.port, fetch, maxRequestBodySize: 4 * 1024 ** 3, idleTimeout: 0 });
  } catch (e) {
    redis.disconnect();
    const code = (e as { code?: string }).code;
    if (code === "EADDRINUSE") throw new TempestError("E_PORT_IN_USE", `${opts.host}:${opts.port} is already in use`, { exitCode: 1, hint: "stop what listens there, or pick another --listen HOST:PORT" });
    throw new TempestError("E_ROLE_START", `cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`, { exitCode: 1, hint: "check the --listen address" });
  }
  const url = `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${server.port}`;
  log.info(`listening on ${url}`);
  // Only a director that could listen competes for the lease.
  loop = startSchedulerLoop({ store, lease, log, tickMs: Number(env.TEMPEST_DIRECTOR_TICK_MS) || 500 });
  return {
    url,
    async stop() {
      await loop?.stop();
      server.stop(true);
      redis.disconnect();
    },
  };
}
