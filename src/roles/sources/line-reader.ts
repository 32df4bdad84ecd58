/**
 * Pulls lines from a byte stream on demand, so a huge file or an endless stdin is read only as
 * fast as the topology asks for messages (memory stays flat).
 */
export class LineReader {
  private readonly reader: { read(): Promise<{ value?: Uint8Array; done: boolean }>; cancel(): Promise<void> };
  private readonly decoder = new TextDecoder();
  private buffered: string[] = [];
  private partial = "";
  private ended = false;
  private lineNo = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  /** Up to `max` lines with their 1-based numbers; waits for at least one unless ended. */
  async next(max: number): Promise<Array<{ n: number; line: string }>> {
    while (this.buffered.length === 0 && !this.ended) await this.fill();
    const take = this.buffered.splice(0, max);
    return take.map((line) => ({ n: ++this.lineNo, line }));
  }

  done(): boolean {
    return this.ended && this.buffered.length === 0;
  }

  async close(): Promise<void> {
    this.ended = true;
    await this.reader.cancel().catch(() => {});
  }

  private async fill(): Promise<void> {
    const { value, done } = await this.reader.read();
    if (done) {
      this.ended = true;
      const tail = this.partial + this.decoder.decode();
      this.partial = "";
      if (tail.length > 0) this.buffered.push(stripCr(tail));
      return;
    }
    const text = this.partial + this.decoder.decode(value, { stream: true });
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    for (const l of lines) this.buffered.push(stripCr(l));
  }
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
