import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { createKeys, type ServiceKind } from "../../core/registry/keys.ts";
import type { Topology } from "../../core/project/model.ts";
import type { Logger } from "../log.ts";
import { connectRedis } from "../redis/connect.ts";

/** What a service says about itself in `tempest:svc:<kind>:<id>` (DESIGN.md §7). */
export interface ServiceRecord {
  kind: ServiceKind;
  id: string;
  topology: string;
  task?: string;
  /** Every task a fused worker hosts, `task` among them (absent: `task` alone). */
  tasks?: string[];
  instance?: string;
  host: string;
  port?: number;
  /** The agent that runs it (TEMPEST_AGENT_NAME), in a cluster. */
  agent?: string;
  /** The deployed version of the project it runs (TEMPEST_DEPLOY_VERSION), in a cluster. */
  deploy_version?: string;
  pid: number;
  version: string;
  started_at: number;
  heartbeat_at: number;
}

export interface Registration {
  stop(): Promise<void>;
}

const DEFAULT_TTL_MS = 10_000;

/**
 * Where a service registers: TEMPEST_REDIS_URL, else the Redis its topology reads from.
 * A topology over a file in local mode has no Redis, and then nothing is registered.
 */
export function registryUrl(topology: Topology, env = process.env): string | undefined {
  if (env.TEMPEST_REDIS_URL) return env.TEMPEST_REDIS_URL;
  const source = topology.runtime.source;
  return source?.type === "redis-stream" ? source.uri : undefined;
}

/** The address others reach this host's services at: what its agent advertises, else the hostname. */
export function advertisedHost(env: Record<string, string | undefined> = process.env): string {
  return env.TEMPEST_ADVERTISE_HOST || hostname();
}

/**
 * Registers a service with a TTL and refreshes it every third of the TTL; a topology also
 * writes its stats snapshot. Redis being away is survivable: the heartbeat just skips a beat
 * and the connection logs the outage once. `stop()` removes the entry (clean exit).
 */
export async function register(opts: {
  uri: string;
  record: Omit<ServiceRecord, "heartbeat_at" | "started_at" | "host" | "pid" | "version" | "agent" | "deploy_version">;
  log: Logger;
  version: string;
  stats?: () => unknown;
  env?: Record<string, string | undefined>;
}): Promise<Registration> {
  const env = opts.env ?? process.env;
  const ttlMs = Number(env.TEMPEST_REGISTRY_TTL_MS) || DEFAULT_TTL_MS;
  const keys = createKeys();
  const redis: Redis = await connectRedis(opts.uri, { name: `tempest:${opts.record.kind}`, where: "TEMPEST_REDIS_URL", log: opts.log, failFast: false });
  const key = keys.service(opts.record.kind, opts.record.id);
  const statsKey = keys.stats(opts.record.topology);
  const startedAt = Date.now();
  const host = advertisedHost(env);
  const agent = env.TEMPEST_AGENT_NAME || undefined;
  const deployVersion = env.TEMPEST_DEPLOY_VERSION || undefined;
  const beat = () => {
    if (redis.status !== "ready") return;
    const record: ServiceRecord = { ...opts.record, host, ...(agent ? { agent } : {}), ...(deployVersion ? { deploy_version: deployVersion } : {}), pid: process.pid, version: opts.version, started_at: startedAt, heartbeat_at: Date.now() };
    const tx = redis.multi().set(key, JSON.stringify(record), "PX", ttlMs);
    if (opts.stats) tx.hset(statsKey, opts.record.id, JSON.stringify({ at: Date.now(), stats: opts.stats() })).pexpire(statsKey, ttlMs * 3);
    tx.exec().catch(() => {});
  };
  beat();
  redis.on("ready", beat);
  // Often enough for the TTL, and for `tempest status` to show fresh stats.
  const timer = setInterval(beat, Math.max(200, Math.min(2_000, Math.floor(ttlMs / 3))));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      redis.off("ready", beat);
      if (redis.status === "ready") {
        const tx = redis.multi().del(key);
        if (opts.stats) tx.hdel(statsKey, opts.record.id);
        await Promise.race([tx.exec().catch(() => {}), Bun.sleep(1000)]);
      }
      redis.disconnect();
    },
  };
}
