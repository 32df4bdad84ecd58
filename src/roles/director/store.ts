import type { Redis } from "ioredis";
import type { AgentProcessesDoc, AgentRecord, AssignmentDoc, Deployment, PlannedProcess, ScheduleDoc, TopologyState } from "../../core/cluster/model.ts";
import type { Keys } from "../../core/registry/keys.ts";
import { scanAll } from "../redis/scan.ts";

/**
 * The director's state, all of it in Redis (DESIGN.md §9): deployments, desired states,
 * assignment documents, the last schedule, and what agents report. Nothing lives only in a
 * director's memory, so a restarted or second director picks up exactly where one left off.
 */
export class ClusterStore {
  constructor(readonly redis: Redis, readonly keys: Keys) {}

  async topologyNames(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.topologies())).sort();
  }

  async topologyState(name: string): Promise<TopologyState | null> {
    return parse<TopologyState>(await this.redis.get(this.keys.topologyState(name)));
  }

  async topologyStates(): Promise<TopologyState[]> {
    const names = await this.topologyNames();
    if (names.length === 0) return [];
    const values = await this.redis.mget(...names.map((n) => this.keys.topologyState(n)));
    return values.map((v) => parse<TopologyState>(v)).filter((s): s is TopologyState => s !== null);
  }

  async putTopologyState(state: TopologyState): Promise<void> {
    await this.redis.multi().set(this.keys.topologyState(state.name), JSON.stringify(state)).sadd(this.keys.topologies(), state.name).exec();
  }

  async deployment(topology: string, version: string): Promise<Deployment | null> {
    return parse<Deployment>(await this.redis.get(this.keys.deployment(topology, version)));
  }

  async versions(topology: string): Promise<string[]> {
    return this.redis.lrange(this.keys.deployments(topology), 0, -1);
  }

  /** Writes a deployment unless that version exists; returns the one stored. */
  async putDeployment(d: Deployment): Promise<{ created: boolean; stored: Deployment }> {
    const created = (await this.redis.set(this.keys.deployment(d.topology, d.version), JSON.stringify(d), "NX")) === "OK";
    if (created) await this.redis.rpush(this.keys.deployments(d.topology), d.version);
    return { created, stored: created ? d : ((await this.deployment(d.topology, d.version)) as Deployment) };
  }

  /** Live agents: their records exist only while their heartbeat keeps the TTL alive. */
  async agents(): Promise<AgentRecord[]> {
    const found = await scanAll(this.redis, this.keys.agentPattern());
    if (found.length === 0) return [];
    const values = await this.redis.mget(...found);
    const agents = values.map((v) => parse<AgentRecord>(v)).filter((a): a is AgentRecord => a !== null && typeof a.name === "string");
    if (agents.length) await this.redis.hset(this.keys.knownAgents(), Object.fromEntries(agents.map((a) => [a.name, JSON.stringify(a)])));
    return agents.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every agent ever seen, with its last record: a lost one stays listed (not alive) with its host and slots. */
  async knownAgents(): Promise<Map<string, AgentRecord>> {
    const all = await this.redis.hgetall(this.keys.knownAgents());
    const out = new Map<string, AgentRecord>();
    for (const [name, json] of Object.entries(all)) {
      const r = parse<AgentRecord>(json);
      if (r) out.set(name, r);
    }
    return out;
  }

  /** Forgets a lost agent (it is listed until then). */
  async forgetAgent(name: string): Promise<void> {
    await this.redis.hdel(this.keys.knownAgents(), name);
  }

  async agentProcesses(names: string[]): Promise<Map<string, AgentProcessesDoc>> {
    const out = new Map<string, AgentProcessesDoc>();
    if (names.length === 0) return out;
    const values = await this.redis.mget(...names.map((n) => this.keys.agentProcesses(n)));
    names.forEach((n, i) => {
      const doc = parse<AgentProcessesDoc>(values[i] ?? null);
      if (doc) out.set(n, doc);
    });
    return out;
  }

  async assignments(names: string[]): Promise<Map<string, AssignmentDoc>> {
    const out = new Map<string, AssignmentDoc>();
    if (names.length === 0) return out;
    const values = await this.redis.mget(...names.map((n) => this.keys.assignment(n)));
    names.forEach((n, i) => {
      const doc = parse<AssignmentDoc>(values[i] ?? null);
      if (doc) out.set(n, doc);
    });
    return out;
  }

  async schedule(): Promise<ScheduleDoc | null> {
    return parse<ScheduleDoc>(await this.redis.get(this.keys.schedule()));
  }

  /**
   * Writes new assignment documents and the schedule in one step, only while `director` holds
   * the scheduler lease (a Lua script: check and write are atomic). Each document takes the
   * next generation. Returns the generation, or null when the lease was lost: a stale director
   * can never overwrite a newer decision.
   */
  async writeAssignments(director: string, changed: Record<string, PlannedProcess[]>, schedule: Omit<ScheduleDoc, "generation">): Promise<number | null> {
    const agents = Object.keys(changed);
    const docs = agents.map((agent) => JSON.stringify({ agent, generation: 0, processes: changed[agent] ?? [], director, written_at: schedule.at } satisfies AssignmentDoc));
    const result = await this.redis.eval(
      WRITE_ASSIGNMENTS,
      3 + agents.length,
      this.keys.leader(), this.keys.generation(), this.keys.schedule(), ...agents.map((a) => this.keys.assignment(a)),
      director, JSON.stringify(schedule), ...docs,
    );
    return result === null ? null : Number(result);
  }
}

/**
 * KEYS: leader, generation, schedule, assignment…; ARGV: director, schedule JSON, doc JSON…
 * Every document gets the same new generation, patched into the JSON text here.
 */
const WRITE_ASSIGNMENTS = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return nil end
local gen = redis.call('INCR', KEYS[2])
for i = 4, #KEYS do
  local doc = string.gsub(ARGV[i - 1], '"generation":0,', '"generation":' .. gen .. ',', 1)
  redis.call('SET', KEYS[i], doc)
end
local sched = string.gsub(ARGV[2], '^{', '{"generation":' .. gen .. ',', 1)
redis.call('SET', KEYS[3], sched)
return gen
`;

function parse<T>(v: string | null): T | null {
  if (!v) return null;
  try {
    return JSON.parse(v) as T;
  } catch {
    return null;
  }
}
