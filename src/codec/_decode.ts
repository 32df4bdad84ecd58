import { CodecError } from "./errors.ts";
import { DEFER, MAX_DEPTH, NodeBuffer, littleEndian, wire } from "./_wire.ts";

const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32b = new Uint8Array(f32.buffer);

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
