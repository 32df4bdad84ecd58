import { _decodeRange, _encodeFrames, decodeCbor } from "./cbor.ts";
import { CodecError } from "./errors.ts";

/** DESIGN.md §4: frames above max_frame are refused. Counts the CBOR body, not the 4-byte header. */
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
const HEADER = 4;

/** One frame: 4-byte big-endian body length, then the CBOR body, in one buffer of its own. */
export function encodeFrame(value: unknown): Uint8Array {
  return _encodeFrames([value]);
}

/** Several frames back to back in one buffer: one socket write instead of many (TCP_NODELAY). */
export function encodeFrames(values: readonly unknown[]): Uint8Array {
  return _encodeFrames(values);
}

/** A partial frame's buffer starts at most this big and doubles as bytes actually arrive. */
const INITIAL_PARTIAL = 64 * 1024;

/**
 * Sans-IO frame reader: `push(chunk)` returns the decoded value of every frame the chunk
 * completes, in order, and keeps any partial frame for the next push.
 *
 * - Frames wholly inside a chunk are decoded in place, without copying. Only an unfinished
 *   tail is copied (the caller may reuse its chunk), into one growing buffer: a large frame
 *   arriving in many chunks costs O(size), never a re-concatenation per chunk.
 * - The announced length is checked against maxFrame as soon as its 4 bytes are seen, before
 *   anything is buffered: a bogus 4 GiB header throws E_FRAME_TOO_LARGE at once. Memory
 *   follows the bytes received, not the length announced: a 4-byte header claiming 16 MiB
 *   does not make every idle connection hold 16 MiB.
 * - Decoded byte strings (e.g. `deliver.msg`, `done.outputs`) are copies, never views into a
 *   chunk (see cbor.ts), so they are safe to keep as they are.
 * - Any throw (CodecError: E_FRAME_TOO_LARGE or E_FRAME_MALFORMED) leaves the stream position
 *   unknown: the decoder is dead, later pushes rethrow the same error, and the caller must
 *   close the connection. Frames already decoded from the failing chunk are dropped with it.
 */
export class FrameDecoder {
  /** May be raised once a peer is trusted (a small limit before the handshake, DESIGN.md §11). */
  maxFrame: number;
  /** Header bytes of a frame whose length is not yet known (0..3 of them). */
  private readonly head = new Uint8Array(HEADER);
  private headLen = 0;
  /** Body bytes received so far of a started frame (capacity may be below `need`). */
  private body: Uint8Array | null = null;
  private bodyLen = 0;
  /** The started frame's announced body length; 0 when between frames. */
  private need = 0;
  private failure: CodecError | null = null;

  constructor(opts: { maxFrame?: number } = {}) {
    this.maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
  }

  push(chunk: Uint8Array): unknown[] {
    if (this.failure) throw this.failure;
    try {
      return this.read(chunk);
    } catch (e) {
      this.failure = e as CodecError;
      throw e;
    }
  }

  private read(chunk: Uint8Array): unknown[] {
    const out: unknown[] = [];
    const end = chunk.length;
    let at = 0;

    // Finish the frame left over from earlier pushes, if any.
    if (this.headLen > 0) {
      while (this.headLen < HEADER && at < end) this.head[this.headLen++] = chunk[at++]!;
      if (this.headLen < HEADER) return out;
      this.headLen = 0;
      this.need = this.checkLength(readU32(this.head, 0));
    }
    if (this.need > 0) {
      const n = Math.min(this.need - this.bodyLen, end - at);
      this.append(chunk.subarray(at, at + n));
      at += n;
      if (this.bodyLen < this.need) return out;
      const body = this.body!;
      this.body = null;
      this.bodyLen = this.need = 0;
      out.push(decodeCbor(body));
    }

    // Hot path: whole frames straight from the chunk.
    while (end - at >= HEADER) {
      const len = this.checkLength(readU32(chunk, at));
      const start = at + HEADER;
      if (end - start < len) {
        this.need = len;
        this.append(chunk.subarray(start, end));
        return out;
      }
      at = start + len;
      out.push(_decodeRange(chunk, start, at));
    }
    while (at < end) this.head[this.headLen++] = chunk[at++]!;
    return out;
  }

  /** Copy part of the started frame's body in, growing by doubling up to its announced size. */
  private append(bytes: Uint8Array): void {
    const want = this.bodyLen + bytes.length;
    let body = this.body;
    if (!body || body.length < want) {
      const cap = Math.min(this.need, Math.max(want, body ? body.length * 2 : INITIAL_PARTIAL));
      const grown = new Uint8Array(cap);
      if (body) grown.set(body.subarray(0, this.bodyLen));
      this.body = body = grown;
    }
    body.set(bytes, this.bodyLen);
    this.bodyLen = want;
  }

  private checkLength(len: number): number {
    if (len > this.maxFrame) {
      throw new CodecError("E_FRAME_TOO_LARGE", `frame of ${len} bytes exceeds max_frame ${this.maxFrame}`);
    }
    if (len === 0) throw new CodecError("E_FRAME_MALFORMED", "zero-length frame: a frame holds exactly one CBOR item");
    return len;
  }
}

function readU32(b: Uint8Array, at: number): number {
  return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}
