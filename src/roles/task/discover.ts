import type { Redis } from "ioredis";
import { createKeys, type Keys } from "../../core/registry/keys.ts";
import type { Logger } from "../log.ts";
import { parseRedisUrl } from "../redis/connect.ts";
import { connectRedis } from "../redis/connect.ts";
import { scanAll } from "../redis/scan.ts";
import type { ServiceRecord } from "../registry/registry.ts";
import type { AddressResolver, TopologyAddress } from "./worker.ts";

/** A lookup that Redis does not answer in this long counts as "not found yet"; the worker retries. */
const LOOKUP_TIMEOUT_MS = 3_000;

export interface Discovery {
  resolve: AddressResolver;
  /** What the worker says while nothing is registered. */
  waiting: string;
  close(): void;
}

/**
 * `--discover` (DESIGN.md §9): the topology's address from the registry, asked again before
 * every connection, so a task follows its topology to another host. Of the live records
 * `svc:topology:{<topology>}:…` the one started last wins (during a reload both run for a
 * moment; the new one is where work goes next).
 */
export async function discoverTopology(opts: { uri: string; topology: string; log: Logger; keys?: Keys; deployVersion?: string }): Promise<Discovery> {
  const keys = opts.keys ?? createKeys();
  const shown = parseRedisUrl(opts.uri, "TEMPEST_REDIS_URL").shown;
  const redis: Redis = await connectRedis(opts.uri, { name: `tempest:${opts.topology}:discover`, where: "TEMPEST_REDIS_URL", log: opts.log, failFast: false });
  const pattern = keys.service("topology", `${globEscape(`{${opts.topology}}:`)}*`);
  const lookup = async (): Promise<TopologyAddress | null> => {
    const found = await scanAll(redis, pattern);
    if (found.length === 0) return null;
    const values = await redis.mget(...found);
    return pickTopology(values, opts.deployVersion);
  };
  return {
    waiting: `waiting for topology \`${opts.topology}\`${opts.deployVersion ? ` ${opts.deployVersion}` : ""} to register in Redis at ${shown}`,
    resolve: () => Promise.race([lookup(), Bun.sleep(LOOKUP_TIMEOUT_MS).then(() => null)]),
    close: () => redis.disconnect(),
  };
}

/**
 * The newest live record's address; records that do not parse or lack a port are skipped. With
 * `deployVersion` (a task run by an agent) only a topology of the same deployed version counts:
 * during a reload the old tasks stay with the old topology and the new with the new.
 */
export function pickTopology(values: Array<string | null>, deployVersion?: string): TopologyAddress | null {
  let best: ServiceRecord | null = null;
  for (const v of values) {
    if (!v) continue;
    let r: ServiceRecord;
    try {
      r = JSON.parse(v) as ServiceRecord;
    } catch {
      continue;
    }
    if (typeof r.host !== "string" || typeof r.port !== "number" || r.port <= 0) continue;
    if (deployVersion !== undefined && r.deploy_version !== undefined && r.deploy_version !== deployVersion) continue;
    if (!best || (r.started_at ?? 0) > (best.started_at ?? 0)) best = r;
  }
  return best ? { host: best.host, port: best.port as number } : null;
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
