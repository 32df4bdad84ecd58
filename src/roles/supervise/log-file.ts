import { closeSync, fstatSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import type { LogRules } from "../../core/supervise/config.ts";

const NEWLINE = 10;

/**
 * One instance's log file, rotated by size: `x.log` → `x.log.1` → … → `x.log.<keep>`, so the
 * disk holds at most (keep + 1) × maxBytes. Rotation happens at a line boundary (only a single
 * line longer than maxBytes is cut). Bytes are written as they came: invalid UTF-8 passes.
 * Writes are synchronous: the page cache takes them at memory speed, so the pipes are read
 * as fast as the child fills them.
 */
export class RotatingLog {
  /** -1 while the file cannot be opened (disk trouble): output is then dropped, never blocked on. */
  private fd = -1;
  private size = 0;
  private closed = false;
  private lastError: string | undefined;
  private readonly taps = new Map<(bytes: Uint8Array) => void, () => void>();

  /** `onError` hears about a failed write or open once per kind of failure, e.g. ENOSPC. */
  constructor(readonly path: string, private readonly rules: Pick<LogRules, "maxBytes" | "keep">, private readonly onError: (e: Error) => void = () => {}) {
    this.open();
  }

  write(bytes: Uint8Array): void {
    if (this.closed) return;
    try {
      this.writeRotating(bytes);
      this.lastError = undefined;
    } catch (e) {
      this.fail(e as Error);
    }
    for (const tap of this.taps.keys()) tap(bytes);
  }

  private fail(e: Error): void {
    const kind = (e as { code?: string }).code ?? e.message;
    if (kind !== this.lastError) this.onError(e);
    this.lastError = kind;
  }

  private writeRotating(bytes: Uint8Array): void {
    if (this.fd < 0) this.open();
    if (this.fd < 0) return;
    let rest = bytes;
    while (rest.length > 0) {
      const room = this.rules.maxBytes - this.size;
      if (rest.length <= room) {
        this.append(rest);
        break;
      }
      // The last whole line that fits; if none fits, rotate first, unless the file is empty
      // (then the line itself is longer than a file and has to be cut).
      let cut = room > 0 ? rest.lastIndexOf(NEWLINE, room - 1) + 1 : 0;
      if (cut === 0 && this.size === 0) cut = room;
      if (cut > 0) {
        this.append(rest.subarray(0, cut));
        rest = rest.subarray(cut);
      }
      this.rotate();
      if (this.fd < 0) return;
    }
  }

  /**
   * Follows everything written from now on (`logs -f`); `onClose` runs if the log closes first.
   * Returns the unsubscribe function.
   */
  tap(fn: (bytes: Uint8Array) => void, onClose: () => void = () => {}): () => void {
    this.taps.set(fn, onClose);
    return () => this.taps.delete(fn);
  }

  /** After an external rotation moved the file away: write to a fresh file at the same path. */
  reopen(): void {
    if (this.closed) return;
    this.closeFd();
    this.open();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const onClose of this.taps.values()) onClose();
    this.taps.clear();
    this.closeFd();
  }

  private open(): void {
    try {
      this.fd = openSync(this.path, "a", 0o640);
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      this.fd = -1;
      this.fail(e as Error);
    }
  }

  private closeFd(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private append(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.size += bytes.length;
  }

  private rotate(): void {
    this.closeFd();
    const { keep } = this.rules;
    if (keep === 0) unlinkQuiet(this.path);
    else {
      unlinkQuiet(`${this.path}.${keep}`);
      for (let i = keep - 1; i >= 1; i--) renameQuiet(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      renameQuiet(this.path, `${this.path}.1`);
    }
    this.open();
  }
}

/**
 * Feeds one output stream into a log a whole line at a time, so that stdout and stderr
 * interleave by line, never inside one. A partial line waits for its end, up to `maxPending`.
 * With `timestamps`, each line starts with the ISO time it was written at.
 */
export class LineWriter {
  private pending: Uint8Array | null = null;
  /** The next byte written starts a line (false after a cut, overlong partial line). */
  private atLineStart = true;

  constructor(private readonly log: RotatingLog, private readonly maxPending = 64 * 1024, private readonly timestamps = false, private readonly now = () => new Date()) {}

  private write(bytes: Uint8Array): void {
    if (!this.timestamps) return this.log.write(bytes);
    const stamp = Buffer.from(`${this.now().toISOString()} `);
    const parts: Uint8Array[] = [];
    for (let start = 0; start < bytes.length;) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl < 0 ? bytes.length : nl + 1;
      if (this.atLineStart) parts.push(stamp);
      parts.push(bytes.subarray(start, end));
      this.atLineStart = nl >= 0;
      start = end;
    }
    this.log.write(Buffer.concat(parts));
  }

  push(chunk: Uint8Array): void {
    let start = 0;
    if (this.pending) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl < 0) {
        this.pending = Buffer.concat([this.pending, chunk]);
        if (this.pending.length > this.maxPending) this.flush();
        return;
      }
      // Only the waiting line is joined; the rest of the chunk is written without a copy.
      this.write(Buffer.concat([this.pending, chunk.subarray(0, nl + 1)]));
      this.pending = null;
      start = nl + 1;
    }
    const end = chunk.lastIndexOf(NEWLINE) + 1;
    if (end > start) this.write(chunk.subarray(start, end));
    const rest = chunk.subarray(Math.max(start, end));
    if (rest.length > this.maxPending) this.write(rest);
    // A copy: a small tail must not pin the whole chunk.
    else if (rest.length > 0) this.pending = rest.slice();
  }

  /** The stream ended: whatever is left is the last line. */
  flush(): void {
    if (this.pending) this.write(this.pending);
    this.pending = null;
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}

function renameQuiet(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch {
    // not there
  }
}
