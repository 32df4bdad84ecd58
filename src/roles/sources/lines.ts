import { encodeCbor } from "../../codec/index.ts";
import type { DeadLetter, Source, SourceMessage, SourceReject } from "../../core/sources/types.ts";
import { DeadLetterFile } from "./dead-letter-file.ts";
import { LineReader } from "./line-reader.ts";

/**
 * A source over a stream of lines (a file or stdin): `jsonl` decodes each line as JSON,
 * `lines` hands the text over as a string. Ids are line numbers; blank lines are skipped.
 * Nothing to ack at the source: a line is done once the pipeline is done with it.
 */
export class LinesSource implements Source {
  private reader?: LineReader;

  constructor(
    readonly type: "file" | "stdin",
    private readonly open_: () => ReadableStream<Uint8Array>,
    private readonly format: "jsonl" | "lines",
    private readonly deadLetters: DeadLetterFile,
  ) {}

  async open(): Promise<void> {
    this.reader = new LineReader(this.open_());
  }

  async poll(max: number): Promise<{ messages: SourceMessage[]; rejects: SourceReject[] }> {
    const messages: SourceMessage[] = [];
    const rejects: SourceReject[] = [];
    if (!this.reader) return { messages, rejects };
    for (const { n, line } of await this.reader.next(max)) {
      if (line.trim() === "") continue;
      const id = String(n);
      if (this.format === "lines") {
        messages.push({ id, payload: encodeCbor(line) });
        continue;
      }
      try {
        messages.push({ id, payload: encodeCbor(JSON.parse(line)) });
      } catch (e) {
        rejects.push({ id, raw: line, error: `line ${n} is not valid JSON: ${(e as Error).message}` });
      }
    }
    return { messages, rejects };
  }

  exhausted(): boolean {
    return this.reader?.done() ?? false;
  }

  async ack(_ids: string[]): Promise<void> {}

  async deadLetter(letter: DeadLetter): Promise<void> {
    this.deadLetters.write(letter);
  }

  async close(): Promise<void> {
    await this.reader?.close();
  }

  health() {
    return { ok: true };
  }
}
