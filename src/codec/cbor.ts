import { Encoder } from "cbor-x";
import { CodecError } from "./errors.ts";

const utf8 = new TextEncoder();

/**
 * The one cbor-x instance for the wire, behind the fast paths below. Plain CBOR only, so any peer
 * in any language reads it and a version mismatch fails loudly instead of yielding `Tag`s:
 * - useRecords: false: no record-structure extension (BUN-NOTES: a decoder lacking the
 *   structures silently returns Tag objects); maps decode to plain objects.
 * - tagUint8Array: false: a Uint8Array is a bare byte string, not tag 64.
 * - variableMapSize: true: smallest map headers (preferred serialization).
 * - copyBuffers: true: decoded byte strings are fresh copies, not views into the input. The
 *   frame decoder decodes straight from socket chunks; views would pin a whole chunk in memory
 *   for as long as a message waits in the pipeline, and would be corrupted if the caller
 *   reuses its chunk. Callers never need to `.slice()` what they keep.
 */
const wire = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  tagUint8Array: false,
  variableMapSize: true,
  copyBuffers: true,
  pack: false,
  bundleStrings: false,
  useSelfDescribedHeader: false,
});

// ---- encoding --------------------------------------------------------------------------
// A hand-written fast path covers what envelopes are made of (plain objects and arrays,
// strings, numbers, booleans, null, undefined, Uint8Array); anything else (Date, Map, bigint,
// class instances, …) is encoded by cbor-x instead. Under Bun, cbor-x's generic paths cost
// ~1.2 µs to encode and ~1.7 µs to decode a 130-byte `deliver` (7 keys re-created as fresh
// strings, 7 `instanceof` checks per byte string): below the 300k frames/s target on its own.

/** Thrown inside the fast paths to hand the whole value to cbor-x. */
const DEFER: unique symbol = Symbol("defer to cbor-x");
/** Deeper values go to cbor-x: keeps our recursion shallow; envelopes are 2-3 levels deep. */
const MAX_DEPTH = 64;
const SCRATCH = 64 * 1024;
const NodeBuffer: Function | undefined = (globalThis as { Buffer?: Function }).Buffer;

let out = new Uint8Array(SCRATCH);
let at = 0;
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32b = new Uint8Array(f32.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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

function writeString(s: string): void {
  const len = s.length;
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

// ---- decoding --------------------------------------------------------------------------
// The fast path reads the same subset (definite lengths, text-keyed maps, no tags) and defers
// everything else, including every error, to cbor-x, which decides and words the message.

const EMPTY: Uint8Array = new Uint8Array(0);
let src = EMPTY;
let pos = 0;
let end = 0;

/** Map keys repeat on every frame: intern them (ASCII, ≤ 32 bytes) to skip string creation. */
const KEY_SLOTS = 1024;
const keyBytes: Array<Uint8Array | undefined> = new Array(KEY_SLOTS);
const keyStrings: string[] = new Array(KEY_SLOTS);

type Utf8Slice = (this: Uint8Array, start: number, end: number) => string;
/** Bun's native UTF-8 slicer works on any Uint8Array (~4x TextDecoder on short strings). */
const utf8Slice = (NodeBuffer?.prototype as { utf8Slice?: Utf8Slice } | undefined)?.utf8Slice;
const utf8Decoder = new TextDecoder();

function text(n: number): string {
  const s = utf8Slice ? utf8Slice.call(src, pos, pos + n) : utf8Decoder.decode(src.subarray(pos, pos + n));
  pos += n;
  return s;
}

function key(n: number): string {
  if (n > 32) return text(n);
  let h = n;
  for (let i = pos; i < pos + n; i++) {
    const b = src[i]!;
    if (b >= 0x80) return text(n);
    h = (h * 31 + b) & (KEY_SLOTS - 1);
  }
  const known = keyBytes[h];
  if (known !== undefined && known.length === n) {
    let i = 0;
    while (i < n && known[i] === src[pos + i]) i++;
    if (i === n) {
      pos += n;
      return keyStrings[h]!;
    }
  }
  keyBytes[h] = new Uint8Array(src.subarray(pos, pos + n)); // a copy: Buffer#slice would be a view
  return (keyStrings[h] = text(n));
}

/** The argument of a head whose additional info is `info`; only lengths/ints below 2^32. */
function arg(info: number): number {
  if (info < 24) return info;
  if (info === 24 && pos + 1 <= end) return src[pos++]!;
  if (info === 25 && pos + 2 <= end) {
    const n = (src[pos]! << 8) | src[pos + 1]!;
    pos += 2;
    return n;
  }
  if (info === 26 && pos + 4 <= end) {
    const n = src[pos]! * 0x1000000 + ((src[pos + 1]! << 16) | (src[pos + 2]! << 8) | src[pos + 3]!);
    pos += 4;
    return n;
  }
  throw DEFER; // 64-bit, reserved, indefinite, or truncated
}

/** A big-endian float of n bytes, through `bytes`, the byte view of the typed array `into`. */
function float(into: Float32Array | Float64Array, bytes: Uint8Array, n: number): number {
  if (pos + n > end) throw DEFER;
  for (let i = 0; i < n; i++) bytes[littleEndian ? n - 1 - i : i] = src[pos + i]!;
  pos += n;
  return into[0]!;
}

function read(depth: number): unknown {
  if (pos >= end || depth > MAX_DEPTH) throw DEFER;
  const b = src[pos++]!;
  const major = b >> 5;
  const info = b & 31;
  switch (major) {
    case 0:
      return arg(info);
    case 1:
      return -1 - arg(info);
    case 2: {
      const n = arg(info);
      if (n > end - pos) throw DEFER;
      const bytes = new Uint8Array(n); // a copy: never a view that pins the caller's chunk
      bytes.set(src.subarray(pos, (pos += n)));
      return bytes;
    }
    case 3: {
      const n = arg(info);
      if (n > end - pos) throw DEFER;
      return text(n);
    }
    case 4: {
      const n = arg(info);
      if (n > end - pos) throw DEFER; // each item takes at least a byte: no huge allocation
      const a = new Array(n);
      for (let i = 0; i < n; i++) a[i] = read(depth + 1);
      return a;
    }
    case 5: {
      const n = arg(info);
      if (n * 2 > end - pos) throw DEFER;
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        if (pos >= end || src[pos]! >> 5 !== 3) throw DEFER; // non-text keys: cbor-x's rules
        const kn = arg(src[pos++]! & 31);
        if (kn > end - pos) throw DEFER;
        const k = key(kn);
        if (k === "__proto__") throw DEFER; // cbor-x renames it; never set a prototype
        o[k] = read(depth + 1);
      }
      return o;
    }
    case 7:
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      if (info === 23) return undefined;
      if (info === 27) return float(f64, f64b, 8);
      if (info === 26) return float(f32, f32b, 4);
      throw DEFER; // half floats, other simple values, break
    default:
      throw DEFER; // tags
  }
}

/**
 * Exactly one CBOR item. Truncated input, malformed bytes and trailing bytes after the item all
 * throw CodecError E_FRAME_MALFORMED (cbor-x rejects trailing data in non-sequential mode).
 * Byte strings in the result are copies, never views into `bytes`.
 */
export function decodeCbor(bytes: Uint8Array): unknown {
  return _decodeRange(bytes, 0, bytes.length);
}

/** decodeCbor of bytes[from, to) without making a view first (the frame decoder's hot path). */
export function _decodeRange(bytes: Uint8Array, from: number, to: number): unknown {
  src = bytes;
  pos = from;
  end = to;
  try {
    const value = read(0);
    if (pos === end) return value;
  } catch {
    // DEFER, or anything unforeseen: cbor-x decides, so every failure is a CodecError.
  } finally {
    src = EMPTY; // do not pin the caller's chunk
  }
  const item = from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to);
  try {
    return wire.decode(item);
  } catch (e) {
    throw new CodecError("E_FRAME_MALFORMED", `malformed CBOR (${item.length} bytes): ${describe(e)}`, { cause: e });
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Bytes of a CBOR head: major type (0..7) plus argument, shortest form. */
function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n <= 0xffffffff ? 5 : 9;
}

function writeHead(out: Uint8Array, at: number, major: number, n: number): number {
  const mt = major << 5;
  if (n < 24) {
    out[at] = mt | n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = mt | 24;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = mt | 25;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  if (n <= 0xffffffff) {
    out[at] = mt | 26;
    new DataView(out.buffer, out.byteOffset + at + 1, 4).setUint32(0, n);
    return at + 5;
  }
  out[at] = mt | 27;
  new DataView(out.buffer, out.byteOffset + at + 1, 8).setBigUint64(0, BigInt(n));
  return at + 9;
}

/**
 * CBOR of the map `{ key: [item, ...], ... }` where every item is ALREADY one complete CBOR
 * value: heads are written and item bytes copied verbatim, nothing is decoded. Lets the
 * topology forward task outputs (kept as encoded bytes) without a decode/encode round trip.
 * Keys must be unique; items are trusted to be well-formed CBOR.
 */
export function cborJoinMap(parts: Array<[string, Uint8Array[]]>): Uint8Array {
  const keys: Uint8Array[] = new Array(parts.length);
  let size = headSize(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const [key, items] = parts[i]!;
    const k = utf8.encode(key);
    keys[i] = k;
    size += headSize(k.length) + k.length + headSize(items.length);
    for (const item of items) size += item.length;
  }
  const out = new Uint8Array(size);
  let at = writeHead(out, 0, 5, parts.length);
  for (let i = 0; i < parts.length; i++) {
    const k = keys[i]!;
    const items = parts[i]![1];
    at = writeHead(out, at, 3, k.length);
    out.set(k, at);
    at += k.length;
    at = writeHead(out, at, 4, items.length);
    for (const item of items) {
      out.set(item, at);
      at += item.length;
    }
  }
  return out;
}
