import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { decodeCbor, encodeCbor } from "../../codec/index.ts";
import { TempestError } from "../../core/errors.ts";
import type { SourceConfig } from "../../core/project/model.ts";
import { deadLetterStream } from "../../core/registry/keys.ts";
import type { DeadLetter, Source, SourceMessage, SourceReject } from "../../core/sources/types.ts";
import type { Logger } from "../log.ts";
import { connectRedis } from "../redis/connect.ts";

type RedisStreamConfig = Extract<SourceConfig, { type: "redis-stream" }>;
type Entry = [Buffer, Buffer[]];

/**
 * A Redis stream read through a consumer group (DESIGN.md §6). On start it first re-reads this
 * consumer's own pending entries (id 0: what a crashed run of the same consumer left), then new
 * ones (`>`); it claims entries left idle for `claim_idle_ms` that this process does not hold
 * (XPENDING IDLE, then XCLAIM of those only: a claim of its own in-flight entry would start a
 * second root of the same id, and dead-letter it twice). What it holds, it keeps fresh (XCLAIM JUSTID to
 * itself resets the idle time without counting a delivery), so a root that is retried for
 * longer than `claim_idle_ms` is not taken by another instance either. Acks are batched; the blocking read has a connection of its own. The attempt of a message is
 * the entry's delivery count, so it survives restarts.
 */
export class RedisStreamSource implements Source {
  readonly type = "redis-stream";
  private cmd!: Redis;
  private reader!: Redis;
  private readonly consumer: string;
  private readonly claimIdleMs: number;
  /** The next id of our own pending list to re-read; null once it is exhausted. */
  private pendingCursor: string | null = "0";
  private claimCursor = "-";
  private lastClaimAt = 0;
  /** The group's lag (entries not yet read by it), refreshed about once a second; null until known. */
  private lag: number | null = null;
  private lastLagAt = 0;
  /** Entries this consumer handed to the pipeline and has not acked: id → when last made fresh. */
  private readonly held = new Map<string, number>();

  constructor(
    private readonly cfg: RedisStreamConfig,
    private readonly topology: string,
    messageTimeoutMs: number,
    private readonly log: Logger,
  ) {
    // In a cluster the agent is the identity: a topology re-placed on another agent after its
    // own died under the same name claims what the lost one left pending.
    this.consumer = cfg.consumer ?? `${topology}@${process.env.TEMPEST_AGENT_NAME || hostname()}`;
    this.claimIdleMs = cfg.claim_idle_ms ?? messageTimeoutMs;
  }

  async open(): Promise<void> {
    const where = `[topology.${this.topology}.source] uri`;
    this.cmd = await connectRedis(this.cfg.uri, { name: `tempest:${this.topology}:source`, where, log: this.log });
    // The command connection already logs outages; the reader's would say the same twice.
    this.reader = await connectRedis(this.cfg.uri, { name: `tempest:${this.topology}:reader`, where, log: { warn() {}, info() {} } });
    const type = String(await this.cmd.type(this.cfg.key));
    if (type !== "none" && type !== "stream") {
      throw new TempestError("E_CONFIG_INVALID", `Redis key \`${this.cfg.key}\` holds a ${type}, not a stream (WRONGTYPE)`, {
        hint: `point [topology.${this.topology}.source] key at a stream, or delete the key`,
      });
    }
    await this.ensureGroup();
    this.log.info(`reading stream \`${this.cfg.key}\` as consumer \`${this.consumer}\` of group \`${this.cfg.group}\``);
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.cmd.xgroup("CREATE", this.cfg.key, this.cfg.group, this.cfg.start, "MKSTREAM");
    } catch (e) {
      if (!String((e as Error).message).startsWith("BUSYGROUP")) throw e;
    }
  }

  async poll(max: number): Promise<{ messages: SourceMessage[]; rejects: SourceReject[] }> {
    try {
      return await this.read(max);
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (msg.startsWith("NOGROUP")) {
        // Redis restarted without persistence: the group is gone. Recreate it and go on.
        this.log.warn(`consumer group \`${this.cfg.group}\` is gone (NOGROUP); creating it again`);
        this.pendingCursor = "0";
        await this.ensureGroup();
        return { messages: [], rejects: [] };
      }
      throw e;
    }
  }

  private async read(max: number): Promise<{ messages: SourceMessage[]; rejects: SourceReject[] }> {
    const count = Math.max(1, Math.min(max, this.cfg.batch));
    if (Date.now() - this.lastLagAt >= 1000) {
      this.lastLagAt = Date.now();
      void this.refreshLag();
    }
    // 1. Our own pending entries, left by an earlier run of this consumer.
    if (this.pendingCursor !== null) {
      const entries = await this.readGroup(count, this.pendingCursor, false);
      if (entries.length === 0) this.pendingCursor = null;
      else {
        this.pendingCursor = nextId(entries[entries.length - 1]![0].toString());
        return this.decode(entries, await this.deliveryCounts(entries));
      }
    }
    // 2. Entries that a dead consumer left idle too long (and keep ours from looking dead).
    if (Date.now() - this.lastClaimAt >= Math.min(1000, this.claimIdleMs / 2)) {
      this.lastClaimAt = Date.now();
      await this.refreshHeld();
      const claimed = await this.claimFromOthers(count);
      if (claimed.length) return this.decode(claimed, await this.deliveryCounts(claimed));
    }
    // 3. New entries, blocking up to block_ms on the reader's own connection.
    const entries = await this.readGroup(count, ">", true);
    return this.decode(entries, new Map());
  }

  private async readGroup(count: number, id: string, block: boolean): Promise<Entry[]> {
    const args: Array<string | number> = ["GROUP", this.cfg.group, this.consumer, "COUNT", count];
    if (block) args.push("BLOCK", this.cfg.block_ms);
    args.push("STREAMS", this.cfg.key, id);
    const conn = block ? this.reader : this.cmd;
    const reply = (await conn.callBuffer("XREADGROUP", ...args)) as Array<[Buffer, Entry[]]> | null;
    // An entry deleted while pending comes back with null fields: nothing to process, ack it.
    const entries = reply?.[0]?.[1] ?? [];
    const gone = entries.filter((e) => e[1] === null).map((e) => e[0].toString());
    if (gone.length) await this.ack(gone);
    return entries.filter((e) => e[1] !== null);
  }

  /** Resets the idle time of what we hold and have not touched for half the claim time. */
  private async refreshHeld(): Promise<void> {
    const now = Date.now();
    const stale: string[] = [];
    for (const [id, at] of this.held) if (now - at >= this.claimIdleMs / 2) stale.push(id);
    if (stale.length === 0) return;
    const pipeline = this.cmd.pipeline();
    for (let i = 0; i < stale.length; i += 500) pipeline.xclaim(this.cfg.key, this.cfg.group, this.consumer, 0, ...stale.slice(i, i + 500), "JUSTID");
    await pipeline.exec();
    for (const id of stale) if (this.held.has(id)) this.held.set(id, now);
  }

  /** Entries of other consumers idle for over `claim_idle_ms`, claimed for this one. */
  private async claimFromOthers(count: number): Promise<Entry[]> {
    const rows = (await this.cmd.call("XPENDING", this.cfg.key, this.cfg.group, "IDLE", this.claimIdleMs, this.claimCursor, "+", count)) as Array<[string, string, number, number]>;
    // A full page: go on from after it at the next poll instead of waiting a second.
    if (rows.length === count) {
      this.claimCursor = nextId(rows[rows.length - 1]![0]);
      this.lastClaimAt = 0;
    } else this.claimCursor = "-";
    // Not what this process holds. An entry under our own name that we do not hold is an earlier
    // run's (say one that was still reading while its replacement started): it is claimed too.
    const ids = rows.filter((r) => !this.held.has(r[0])).map((r) => r[0]);
    if (ids.length === 0) return [];
    const reply = (await this.cmd.callBuffer("XCLAIM", this.cfg.key, this.cfg.group, this.consumer, this.claimIdleMs, ...ids)) as Array<Entry | null>;
    const entries = reply.filter((e): e is Entry => e !== null && e[1] !== null);
    const owners = [...new Set(rows.filter((r) => ids.includes(r[0])).map((r) => (r[1] === this.consumer ? `${r[1]} (an earlier run of this consumer)` : r[1])))];
    if (entries.length) this.log.info(`claimed ${entries.length} entr${entries.length === 1 ? "y" : "ies"} idle for over ${this.claimIdleMs} ms from ${owners.join(", ")}`);
    return entries;
  }

  private async refreshLag(): Promise<void> {
    try {
      const groups = (await this.cmd.xinfo("GROUPS", this.cfg.key)) as unknown[][];
      for (const row of groups) {
        const f: Record<string, unknown> = {};
        for (let i = 0; i + 1 < row.length; i += 2) f[String(row[i])] = row[i + 1];
        if (f.name === this.cfg.group) this.lag = f.lag === null || f.lag === undefined ? null : Number(f.lag);
      }
    } catch {
      // the stream is gone or Redis is away: the poll itself reports it
    }
  }

  /** Delivery counts of entries this consumer holds, from XPENDING: the attempt of each. */
  private async deliveryCounts(entries: Entry[]): Promise<Map<string, number>> {
    const first = entries[0]![0].toString();
    const last = entries[entries.length - 1]![0].toString();
    const rows = (await this.cmd.xpending(this.cfg.key, this.cfg.group, first, last, entries.length, this.consumer)) as Array<[string, string, number, number]>;
    return new Map(rows.map((r) => [r[0], Number(r[3])]));
  }

  private decode(entries: Entry[], attempts: Map<string, number>): { messages: SourceMessage[]; rejects: SourceReject[] } {
    const messages: SourceMessage[] = [];
    const rejects: SourceReject[] = [];
    const now = Date.now();
    for (const [rawId, fields] of entries) {
      const id = rawId.toString();
      this.held.set(id, now);
      try {
        messages.push({ id, payload: this.payloadOf(fields), attempt: attempts.get(id) ?? 1 });
      } catch (e) {
        rejects.push({ id, raw: fieldsText(fields), error: `entry ${id}: ${(e as Error).message}` });
      }
    }
    return { messages, rejects };
  }

  private payloadOf(fields: Buffer[]): Uint8Array {
    if (!this.cfg.field) {
      const obj: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) obj[fields[i]!.toString()] = fields[i + 1]!.toString();
      return encodeCbor(obj);
    }
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i]!.toString() !== this.cfg.field) continue;
      const value = fields[i + 1]!;
      if (this.cfg.codec === "cbor") {
        decodeCbor(value); // validate here, so a broken entry is dead-lettered, not retried
        return new Uint8Array(value);
      }
      try {
        return encodeCbor(JSON.parse(value.toString()));
      } catch (e) {
        throw new Error(`field \`${this.cfg.field}\` is not valid JSON: ${(e as Error).message}`);
      }
    }
    throw new Error(`the entry has no field \`${this.cfg.field}\``);
  }

  exhausted(): boolean {
    return false;
  }

  async ack(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) this.held.delete(id);
    const pipeline = this.cmd.pipeline();
    for (let i = 0; i < ids.length; i += 500) pipeline.xack(this.cfg.key, this.cfg.group, ...ids.slice(i, i + 500));
    await pipeline.exec();
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    // The original fields, read back (the entry is still in the stream while it is pending).
    const original = (await this.cmd.xrange(this.cfg.key, letter.id, letter.id)) as Array<[string, string[]]>;
    const fields = original[0]?.[1] ?? ["payload", typeof letter.payload === "string" ? letter.payload : JSON.stringify(safeDecode(letter.payload))];
    await this.cmd.xadd(deadLetterStream(this.cfg.key), "*", ...deadLetterFields(fields, letter, this.topology));
  }

  async close(): Promise<void> {
    this.reader?.disconnect();
    // QUIT after the queued commands (the last acks) have been sent.
    await this.cmd?.quit().catch(() => this.cmd.disconnect());
  }

  health() {
    const lag = this.lag ?? undefined;
    return this.cmd?.status === "ready" ? { ok: true, lag } : { ok: false, detail: `redis ${this.cmd?.status ?? "not connected"}`, lag };
  }
}

/** The id right after `id` in stream order, to page through a pending list. */
function nextId(id: string): string {
  const [ms, seq] = id.split("-");
  return `${ms}-${BigInt(seq ?? "0") + 1n}`;
}

function fieldsText(fields: Buffer[]): string {
  const obj: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) obj[fields[i]!.toString()] = fields[i + 1]!.toString();
  return JSON.stringify(obj);
}

function safeDecode(bytes: Uint8Array): unknown {
  try {
    return decodeCbor(bytes);
  } catch {
    return Buffer.from(bytes).toString("base64");
  }
}

/** Prefix of every field tempest adds to a dead letter; README "Dead letters" documents the layout. */
export const DEAD_LETTER_PREFIX = "tempest.";

/**
 * A dead letter's fields: the entry's own fields unchanged, then tempest's, each prefixed so
 * none can collide with the entry's (an entry may well have an `id` or an `error`). An entry
 * replayed from a `:dead` stream brings the older letter's `tempest.*` fields: those are
 * replaced, not repeated.
 */
export function deadLetterFields(entry: string[], letter: DeadLetter, topology: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < entry.length; i += 2) {
    if (!(entry[i] as string).startsWith(DEAD_LETTER_PREFIX)) out.push(entry[i] as string, entry[i + 1] as string);
  }
  const last = letter.attempts[letter.attempts.length - 1];
  const meta: Array<[string, string | undefined]> = [
    ["id", letter.id],
    ["topology", topology],
    ["error", letter.error],
    ["where", last?.where],
    ["attempts", JSON.stringify(letter.attempts)],
    ["at", new Date().toISOString()],
  ];
  for (const [k, v] of meta) if (v !== undefined) out.push(DEAD_LETTER_PREFIX + k, v);
  return out;
}
