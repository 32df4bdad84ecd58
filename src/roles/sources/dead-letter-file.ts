import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { decodeCbor } from "../../codec/index.ts";
import type { DeadLetter } from "../../core/sources/types.ts";

/**
 * Dead letters of the sources that need no server: one JSON object per line, written
 * synchronously so a letter is on disk before its message is acked.
 */
export class DeadLetterFile {
  private ready = false;
  constructor(readonly path: string, private readonly topology: string) {}

  write(letter: DeadLetter): void {
    if (!this.ready) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.ready = true;
    }
    const message = typeof letter.payload === "string" ? letter.payload : safeDecode(letter.payload);
    const where = letter.attempts[letter.attempts.length - 1]?.where;
    const line = { topology: this.topology, id: letter.id, message, error: letter.error, ...(where ? { where } : {}), attempts: letter.attempts, at: new Date().toISOString() };
    appendFileSync(this.path, `${JSON.stringify(line)}\n`);
  }
}

function safeDecode(bytes: Uint8Array): unknown {
  try {
    return decodeCbor(bytes);
  } catch {
    return { cbor_base64: Buffer.from(bytes).toString("base64") };
  }
}
