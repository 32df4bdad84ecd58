import { CodecError } from "./errors.ts";
import { DEFER, MAX_DEPTH, NodeBuffer, littleEndian, wire } from "./_wire.ts";

const utf8 = new TextEncoder();

// ---- encoding --------------------------------------------------------------------------
// A hand-written fast path covers what envelopes are made of (plain objects and arrays,
// strings, numbers, booleans, null, undefined, Uint8Array); anything else (Date, Map, bigint,
// class instances, …) is encoded by cbor-x instead. Under Bun, cbor-x's generic paths cost
// ~1.2 µs to encode and ~1.7 µs to decode a 130-byte `deliver` (7 keys re-created as fresh
// strings, 7 `instanceof` checks per byte string): below the 300k frames/s target on its own.

const SCRATCH = 64 * 1024;

let out = new Uint8Array(SCRATCH);
let at = 0;
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32b = new Uint8Array(f32.buffer);

function ensure(n: number): void {
  if (at + n <= out.length) return;
  let size = out.length * 2;
  while (size < at + n) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(out.subarray(0, at));
  out = grown;
}

/** A CBOR head (major type + argument), shortest form; n < 2^32. */
function head(major: number, n: number): void {
  ensure(5);
  const mt = major << 5;
  if (n < 24) out[at++] = mt | n;
  else if (n < 0x100) {
    out[at++] = mt | 24;
    out[at++] = n;
  } else if (n < 0x10000) {
    out[at++] = mt | 25;
    out[at++] = n >>> 8;
    out[at++] = n & 0xff;
  } else {
    out[at++] = mt | 26;
    out[at++] = n >>> 24;
    out[at++] = (n >>> 16) & 0xff;
    out[at++] = (n >>> 8) & 0xff;
    out[at++] = n & 0xff;
  }
}

/** Same choices as cbor-x: 32-bit integers as integers, everything else as float64. */
function writeNumber(x: number): void {
  if (x >>> 0 === x) head(0, x);
  else if (x < 0 && x >= -0x100000000 && Math.floor(x) === x) head(1, -1 - x);
  else {
    ensure(9);
    out[at++] = 0xfb;
    f64[0] = x;
    for (let i = 0; i < 8; i++) out[at++] = f64b[littleEndian ? 7 - i : i]!;
  }
}

type Utf8Write = (this: Uint8Array, s: string, offset: number, length: number) => number;
/** Bun's native UTF-8 writer works on any Uint8Array: ~50 ns for 64 chars, a charCodeAt loop ~180. */
const utf8Write = (NodeBuffer?.prototype as { utf8Write?: Utf8Write } | undefined)?.utf8Write;

/** Bytes of a CBOR head for argument n (n < 2^32). */
function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function writeString(s: string): void {
  const len = s.length;
  if (len >= 24 && utf8Write !== undefined) {
    // Written in place after a head sized for an ASCII string (bytes == chars); moved when the
    // byte length needs a longer head. A char takes at most 3 bytes (a surrogate pair 4 for 2).
    const max = 3 * len;
    ensure(5 + max);
    const h = headSize(len);
    const n = utf8Write.call(out, s, at + h, max);
    const hn = headSize(n);
    if (hn !== h) out.copyWithin(at + hn, at + h, at + h + n);
    head(3, n);
    at += n;
    return;
  }
  if (len < 0x100) {
    // Optimistic ASCII: byte length == char count, so the head is known before writing.
    ensure(2 + len);
    const start = at;
    if (len < 24) out[at++] = 0x60 | len;
    else {
      out[at++] = 0x78;
      out[at++] = len;
    }
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      out[at++] = c;
    }
    if (i === len) return;
    at = start;
  }
  const bytes = utf8.encode(s);
  head(3, bytes.length);
  ensure(bytes.length);
  out.set(bytes, at);
  at += bytes.length;
}

function write(v: unknown, depth: number): void {
  switch (typeof v) {
    case "string":
      return writeString(v);
    case "number":
      return writeNumber(v);
    case "boolean":
      ensure(1);
      out[at++] = v ? 0xf5 : 0xf4;
      return;
    case "undefined":
      ensure(1);
      out[at++] = 0xf7;
      return;
    case "object": {
      if (v === null) {
        ensure(1);
        out[at++] = 0xf6;
        return;
      }
      if (depth > MAX_DEPTH) throw DEFER;
      const c = v.constructor;
      if (c === Object) {
        const keys = Object.keys(v);
        head(5, keys.length);
        for (const k of keys) {
          writeString(k);
          write((v as Record<string, unknown>)[k], depth + 1);
        }
        return;
      }
      if (c === Array) {
        const a = v as unknown[];
        head(4, a.length);
        for (let i = 0; i < a.length; i++) write(a[i], depth + 1);
        return;
      }
      if (c === Uint8Array || (NodeBuffer !== undefined && c === NodeBuffer)) {
        const b = v as Uint8Array;
        head(2, b.length);
        ensure(b.length);
        out.set(b, at);
        at += b.length;
        return;
      }
      throw DEFER;
    }
    default:
      throw DEFER;
  }
}

/** Appends the CBOR of `value` to the scratch buffer. */
function put(value: unknown): void {
  const start = at;
  try {
    write(value, 0);
  } catch (e) {
    if (e !== DEFER) throw e;
    at = start;
    const b = wire.encode(value); // a view into cbor-x's own scratch: copied at once
    ensure(b.length);
    out.set(b, at);
    at += b.length;
  }
}

/** Hands the scratch content out as a buffer of its own and rewinds. */
function take(): Uint8Array {
  const result = out.slice(0, at);
  at = 0;
  if (out.length > 16 * SCRATCH) out = new Uint8Array(SCRATCH); // do not pin one huge encode forever
  return result;
}

/** CBOR of `value` as a buffer of its own, safe to keep. */
export function encodeCbor(value: unknown): Uint8Array {
  at = 0;
  put(value);
  return take();
}

/**
 * Frames for the codec folder: each value as a 4-byte big-endian body length plus its CBOR,
 * all in one new buffer. Not re-exported.
 */
export function _encodeFrames(values: readonly unknown[]): Uint8Array {
  at = 0;
  for (let i = 0; i < values.length; i++) {
    ensure(4);
    const lenAt = at;
    at += 4;
    put(values[i]);
    const n = at - lenAt - 4;
    if (n > 0xffffffff) throw new CodecError("E_FRAME_TOO_LARGE", `frame of ${n} bytes exceeds the 4-byte length prefix`);
    out[lenAt] = n >>> 24;
    out[lenAt + 1] = (n >>> 16) & 0xff;
    out[lenAt + 2] = (n >>> 8) & 0xff;
    out[lenAt + 3] = n & 0xff;
  }
  return take();
}
