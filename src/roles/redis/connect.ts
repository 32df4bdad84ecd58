import { type BackoffRules, backoff } from "../../core/backoff.ts";
import type { Redis, RedisOptions } from "ioredis";
import { TempestError } from "../../core/errors.ts";
import { parseRedisUrl } from "../../core/config/redis-url.ts";

export { parseRedisUrl };

/** ioredis counts `times` from 1: 100 ms, 200 ms, … up to 5 s. */
const RETRY: BackoffRules = { initialMs: 100, maxMs: 5_000, factor: 2, jitter: 0.1 };

/**
 * An ioredis connection that survives outages (DESIGN.md §7): commands wait in the offline
 * queue while Redis is away, reconnects back off up to 5 s, and the outage is logged once when
 * it starts and once when it ends. The first connection must succeed within `startupMs`, so
 * a wrong address fails fast with one clear line.
 */
export interface OutageLog {
  warn(message: string): void;
  info(message: string): void;
}

export async function connectRedis(uri: string, opts: { name: string; where: string; log: OutageLog; startupMs?: number; failFast?: boolean }): Promise<Redis> {
  const address = parseRedisUrl(uri, opts.where);
  const { default: RedisClient } = await import("ioredis");
  // Options, not the URL string: ioredis parses strings with the deprecated url.parse().
  const options: RedisOptions = {
    host: address.host,
    port: address.port,
    db: address.db,
    username: address.username,
    password: address.password,
    tls: address.tls ? {} : undefined,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectionName: opts.name,
    retryStrategy: (times) => backoff(RETRY, times, Math.random()),
  };
  const redis = new RedisClient(options);
  let lastError = "";
  let outageSince: number | undefined;
  let ready = false;
  redis.on("error", (e: NodeJS.ErrnoException) => {
    lastError = e.code ?? e.message;
    if (ready && outageSince === undefined) {
      outageSince = Date.now();
      opts.log.warn(`Redis at ${address.shown} is unreachable (${lastError}); retrying with backoff`);
    }
  });
  redis.on("close", () => {
    if (ready && outageSince === undefined) {
      outageSince = Date.now();
      opts.log.warn(`lost the connection to Redis at ${address.shown}; retrying with backoff`);
    }
  });
  redis.on("ready", () => {
    if (outageSince !== undefined) opts.log.info(`Redis at ${address.shown} is back after ${Date.now() - outageSince} ms`);
    outageSince = undefined;
    ready = true;
  });

  if (opts.failFast === false) {
    // Best effort (the registry): never fail the service, just keep trying in the background.
    ready = true;
    redis.connect().catch(() => {});
    return redis;
  }
  const startupMs = opts.startupMs ?? 5_000;
  const connected = redis.connect().then(() => true, () => false);
  const inTime = await Promise.race([connected, Bun.sleep(startupMs).then(() => false)]);
  if (!inTime || !ready) {
    redis.disconnect();
    throw new TempestError("E_ROLE_START", `Redis at ${address.shown} is not reachable${lastError ? ` (${lastError})` : ""}`, {
      exitCode: 1,
      hint: `start redis-server there, or fix the address in ${opts.where}`,
    });
  }
  return redis;
}
