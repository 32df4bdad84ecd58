/**
 * Every Redis key Tempest writes is built here (DESIGN.md §7). Keys that belong to one topology
 * carry the hash tag `{<topology>}` so a Redis Cluster keeps them on one shard. The prefix
 * (default `tempest`) comes from TEMPEST_KEY_PREFIX, so tests and tenants never share keys.
 */
export type ServiceKind = "topology" | "task";

export function keyPrefix(env: Record<string, string | undefined> = process.env): string {
  return env.TEMPEST_KEY_PREFIX || "tempest";
}

export function createKeys(prefix = keyPrefix()) {
  return {
    /** `tempest:svc:<kind>:<id>`: a service's registration, with a TTL its heartbeat refreshes. */
    service: (kind: ServiceKind, id: string) => `${prefix}:svc:${kind}:${id}`,
    /** What SCAN matches to list every registered service. */
    servicePattern: () => `${prefix}:svc:*`,
    /** `tempest:stats:{<topology>}`: the latest stats snapshot of one topology. */
    stats: (topology: string) => `${prefix}:stats:{${topology}}`,
    statsPattern: () => `${prefix}:stats:*`,
    /** A topology instance's id: unique per process, tagged with its topology. */
    topologyId: (topology: string, host: string, port: number) => `{${topology}}:${host}:${port}`,
    taskId: (topology: string, task: string, instance: string, host: string, pid: number) => `{${topology}}:${task}#${instance}@${host}:${pid}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;

/** The stream that holds a redis-stream source's dead letters (DESIGN.md §5). */
export function deadLetterStream(key: string): string {
  return `${key}:dead`;
}
