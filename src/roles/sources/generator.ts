import { encodeCbor } from "../../codec/index.ts";
import type { DeadLetter, Source, SourceMessage, SourceReject } from "../../core/sources/types.ts";
import type { DeadLetterFile } from "./dead-letter-file.ts";

/** The longest a rate-limited poll waits for its next message. */
const MAX_WAIT_MS = 50;
/** How encodeCbor starts `{ seq, data }`: a map of two pairs, the text "seq", then seq. */
const SEQ_KEY = [0xa2, 0x63, 0x73, 0x65, 0x71];

/**
 * Synthetic messages `{ seq, data }` for demos and benchmarks: `count` of them (0 = endless),
 * `data` of `size` bytes, at most `rate` per second (0 = as fast as the pipeline takes them).
 */
export class GeneratorSource implements Source {
  readonly type = "generator";
  private seq = 0;
  private readonly data: string;
  /** The CBOR of `{ seq, data }` before and after seq, when it has the expected shape. */
  private readonly before: Uint8Array | null = null;
  private readonly after: Uint8Array | null = null;
  /** The rate runs from the first read, not from start-up: tasks connecting is not a backlog to catch up. */
  private startedAt = 0;

  constructor(private readonly opts: { count: number; size: number; rate: number }, private readonly deadLetters: DeadLetterFile) {
    this.data = "x".repeat(opts.size);
    // The encoder's own output cut around a placeholder seq (0, one byte): each message is then
    // a copy of both parts and the bytes of its seq, not an encoding of the whole data again.
    const whole = encodeCbor({ seq: 0, data: this.data });
    if (SEQ_KEY.every((b, i) => whole[i] === b) && whole[SEQ_KEY.length] === 0) {
      this.before = whole.slice(0, SEQ_KEY.length);
      this.after = whole.slice(SEQ_KEY.length + 1);
    }
  }

  async open(): Promise<void> {}

  async poll(max: number): Promise<{ messages: SourceMessage[]; rejects: SourceReject[] }> {
    let n = max;
    if (this.opts.count > 0) n = Math.min(n, this.opts.count - this.seq);
    if (this.opts.rate > 0 && n > 0) {
      if (this.startedAt === 0) this.startedAt = performance.now();
      // Like a blocking read: wait (at most MAX_WAIT_MS) until a message is due rather than
      // answer nothing, which would stop the topology's reading until its next event and
      // release what came due meanwhile as one burst. Timers sleep a millisecond at least, so
      // messages come in steps of about a millisecond's worth.
      const waitStart = performance.now();
      for (;;) {
        const dueIn = (this.seq / this.opts.rate) * 1000 - (performance.now() - this.startedAt);
        const waited = performance.now() - waitStart;
        if (dueIn <= 0 || waited >= MAX_WAIT_MS) break;
        await Bun.sleep(Math.min(dueIn, MAX_WAIT_MS - waited));
      }
      const allowed = Math.floor(((performance.now() - this.startedAt) / 1000) * this.opts.rate) + 1;
      n = Math.min(n, Math.max(0, allowed - this.seq));
    }
    const messages: SourceMessage[] = [];
    for (let i = 0; i < n; i++) {
      const seq = ++this.seq;
      messages.push({ id: String(seq), payload: this.payload(seq) });
    }
    return { messages, rejects: [] };
  }

  /** Same bytes as encodeCbor({ seq, data }), without encoding the data again. */
  private payload(seq: number): Uint8Array {
    // Above 2^32 the encoder writes a float64: let it.
    if (this.before === null || this.after === null || seq >= 0x100000000) return encodeCbor({ seq, data: this.data });
    const n = seq < 24 ? 1 : seq < 0x100 ? 2 : seq < 0x10000 ? 3 : 5;
    const out = new Uint8Array(this.before.length + n + this.after.length);
    out.set(this.before, 0);
    let at = this.before.length;
    if (n === 1) out[at++] = seq;
    else {
      out[at++] = n === 2 ? 0x18 : n === 3 ? 0x19 : 0x1a;
      for (let i = n - 2; i >= 0; i--) out[at++] = (seq >>> (8 * i)) & 0xff;
    }
    out.set(this.after, at);
    return out;
  }

  exhausted(): boolean {
    return this.opts.count > 0 && this.seq >= this.opts.count;
  }

  async ack(_ids: string[]): Promise<void> {}

  async deadLetter(letter: DeadLetter): Promise<void> {
    this.deadLetters.write(letter);
  }

  async close(): Promise<void> {}

  health() {
    return { ok: true };
  }
}
