import type { Redis } from "ioredis";
import type { Keys } from "../../core/registry/keys.ts";

export interface Heartbeat {
  /** Beats now (also done every `beatMs` and whenever Redis comes back). */
  beat(): void;
  /** Reads the assignment now, between beats (a wake-up). */
  readAssignment(): void;
  /** Stops beating and deletes the agent's keys (bounded in time). */
  stop(): Promise<void>;
}

/**
 * Every beat, in one round trip (DESIGN.md §8): the agent record and its process report, each
 * with the TTL, and a read of its assignment. While Redis is away the beat is skipped (the
 * connection logs the outage); the processes keep running.
 */
export function startHeartbeat(opts: {
  redis: Redis;
  keys: Keys;
  name: string;
  ttlMs: number;
  beatMs: number;
  record: () => unknown;
  processes: () => unknown;
  onAssignment: (raw: string | null) => void;
}): Heartbeat {
  const { redis, keys, name, ttlMs } = opts;
  let stopped = false;
  let inflight = false;
  const beat = () => {
    if (stopped || redis.status !== "ready" || inflight) return;
    inflight = true;
    redis
      .multi()
      .set(keys.agent(name), JSON.stringify(opts.record()), "PX", ttlMs)
      .set(keys.agentProcesses(name), JSON.stringify(opts.processes()), "PX", ttlMs)
      .get(keys.assignment(name))
      .exec()
      .then((r) => {
        const got = r?.[2];
        if (got && !got[0] && !stopped) opts.onAssignment(got[1] as string | null);
      })
      .catch(() => {})
      .finally(() => (inflight = false));
  };
  const readAssignment = () => {
    if (stopped || redis.status !== "ready") return;
    redis.get(keys.assignment(name)).then((raw) => !stopped && opts.onAssignment(raw), () => {});
  };
  redis.on("ready", beat);
  const timer = setInterval(beat, opts.beatMs);
  beat();
  return {
    beat,
    readAssignment,
    async stop() {
      stopped = true;
      clearInterval(timer);
      redis.off("ready", beat);
      if (redis.status === "ready") await Promise.race([redis.del(keys.agent(name), keys.agentProcesses(name)).catch(() => {}), Bun.sleep(1_000)]);
    },
  };
}
