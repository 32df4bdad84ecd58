import type { Redis } from "ioredis";

/**
 * The scheduler lease (DESIGN.md §9): one director schedules at a time. `SET NX PX` takes it;
 * the holder renews it with a compare-and-expire script, so a director that paused past the
 * lease cannot renew one a successor took. The assignment writes check it again atomically.
 */
export class SchedulerLease {
  private held = false;

  constructor(private readonly redis: Redis, private readonly key: string, readonly id: string, private readonly ttlMs: number) {}

  get isHeld(): boolean {
    return this.held;
  }

  /** Takes or renews the lease; returns whether this director holds it now. */
  async refresh(): Promise<boolean> {
    if (this.held) {
      this.held = (await this.redis.eval(RENEW, 1, this.key, this.id, this.ttlMs)) === 1;
      if (this.held) return true;
    }
    this.held = (await this.redis.set(this.key, this.id, "PX", this.ttlMs, "NX")) === "OK";
    return this.held;
  }

  async holder(): Promise<string | null> {
    return this.redis.get(this.key);
  }

  async release(): Promise<void> {
    if (this.held) await this.redis.eval(RELEASE, 1, this.key, this.id);
    this.held = false;
  }
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
