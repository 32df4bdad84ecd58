import { encodeCbor } from "../../codec/index.ts";
import type { DeadLetter, Source, SourceMessage, SourceReject } from "../../core/sources/types.ts";
import type { DeadLetterFile } from "./dead-letter-file.ts";

/**
 * Synthetic messages `{ seq, data }` for demos and benchmarks: `count` of them (0 = endless),
 * `data` of `size` bytes, at most `rate` per second (0 = as fast as the pipeline takes them).
 */
/** The longest a rate-limited poll waits for its next message. */
const MAX_WAIT_MS = 50;

export class GeneratorSource implements Source {
  readonly type = "generator";
  private seq = 0;
  private readonly data: string;
  /** The rate runs from the first read, not from start-up: tasks connecting is not a backlog to catch up. */
  private startedAt = 0;

  constructor(private readonly opts: { count: number; size: number; rate: number }, private readonly deadLetters: DeadLetterFile) {
    this.data = "x".repeat(opts.size);
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
      messages.push({ id: String(seq), payload: encodeCbor({ seq, data: this.data }) });
    }
    return { messages, rejects: [] };
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
