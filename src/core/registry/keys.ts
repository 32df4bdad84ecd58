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

    // The cluster (DESIGN.md §8–§9).
    /** `tempest:agent:<name>`: an agent's record (core/cluster/model.ts AgentRecord), with a TTL. */
    agent: (name: string) => `${prefix}:agent:${name}`,
    agentPattern: () => `${prefix}:agent:*`,
    /** A hash: every agent ever seen → its last record, so a lost agent is shown as not alive. */
    knownAgents: () => `${prefix}:agents`,
    /** What an agent runs and how each process is doing (AgentProcessesDoc), with a TTL. */
    agentProcesses: (name: string) => `${prefix}:agent-procs:${name}`,
    /** An agent's whole assignment (AssignmentDoc), written by the scheduling director. */
    assignment: (name: string) => `${prefix}:assign:${name}`,
    assignmentPattern: () => `${prefix}:assign:*`,
    /** Pub/sub channel: the message is an agent's name; it only wakes that agent up. */
    assignmentWake: () => `${prefix}:assign-wake`,
    /** INCR counter: every assignment document takes a new, higher generation. */
    generation: () => `${prefix}:cluster:generation`,
    /** The last schedule (ScheduleDoc), for status. */
    schedule: () => `${prefix}:cluster:schedule`,
    /** The scheduler lease: `SET NX PX` by one director at a time. */
    leader: () => `${prefix}:director:leader`,
    /** The set of deployed topology names. */
    topologies: () => `${prefix}:topologies`,
    /** A topology's desired state (TopologyState). */
    topologyState: (topology: string) => `${prefix}:topology:{${topology}}`,
    /** One deployed version (Deployment); immutable. */
    deployment: (topology: string, version: string) => `${prefix}:deploy:{${topology}}:${version}`,
    /** The versions deployed, oldest first (a list). */
    deployments: (topology: string) => `${prefix}:deploys:{${topology}}`,
    /** The log lines of a topology's processes, from every agent (a capped stream). */
    logs: (topology: string) => `${prefix}:logs:{${topology}}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;

/** The stream that holds a redis-stream source's dead letters (DESIGN.md §5). */
export function deadLetterStream(key: string): string {
  return `${key}:dead`;
}
