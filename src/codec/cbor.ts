/**
 * CBOR for the wire (DESIGN.md §4). Plain values (objects, arrays, strings, numbers, booleans,
 * null, undefined, byte strings) take hand-written fast paths (_encode.ts, _decode.ts): cbor-x
 * alone measured 190-250k envelopes/s here, below the 300k target (bench/README.md). Anything
 * else (tags, Date, Map, bigint, indefinite lengths) and every error goes to cbor-x (_wire.ts).
 */
export { encodeCbor, _encodeFrames } from "./_encode.ts";
export { decodeCbor, _decodeRange } from "./_decode.ts";

const utf8 = new TextEncoder();

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
