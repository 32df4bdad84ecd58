import { logTimestamps, timestamp, type TextSink } from "../log.ts";
/**
 * The output of one child of `tempest run` (the topology, or one task instance), as the
 * supervisor hands it over: split into lines, each forwarded with the child's tag
 * (`[split#1] …`, not doubled when the child tagged it itself), the last few kept for error
 * messages.
 */
export class ChildOutput {
  /** The last lines it wrote, untagged as written, for error messages. */
  readonly tail: string[] = [];
  private partial = "";
  private readonly decoder = new TextDecoder();
  private readonly prefixes: string[];

  /** With timestamps on (TEMPEST_LOG_TIMESTAMPS=1), each forwarded line is stamped once, here. */
  private readonly stamp = logTimestamps();

  /** `hosted`: the other tags its lines may carry already (the tasks of a fused worker). */
  constructor(readonly tag: string, private readonly to: TextSink, private readonly onLine: (line: string) => void = () => {}, hosted: string[] = []) {
    this.prefixes = [tag, ...hosted].map((t) => `[${t}] `);
  }

  push(bytes: Uint8Array): void {
    const lines = (this.partial + this.decoder.decode(bytes, { stream: true })).split("\n");
    this.partial = lines.pop() ?? "";
    for (const l of lines) this.emit(l);
  }

  flush(): void {
    if (this.partial) this.emit(this.partial);
    this.partial = "";
  }

  /** The last line it logged at error level (`error: …`), without tag or level; null if none. */
  lastError(): string | null {
    const line = [...this.tail].reverse().find((l) => /^(\[[^\]]+\]\s*)?error: /.test(l));
    return line === undefined ? null : line.replace(/^\[[^\]]+\]\s*/, "").replace(/^error:\s*/, "");
  }

  private emit(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 20) this.tail.shift();
    this.onLine(line);
    this.to.write(`${this.stamp ? timestamp() : ""}${this.prefixes.some((p) => line.startsWith(p)) ? line : `${this.prefixes[0]}${line}`}\n`);
  }
}
