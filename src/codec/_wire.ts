import { Encoder } from "cbor-x";

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
export const wire = new Encoder({
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

/** Thrown inside the fast paths to hand the whole value to cbor-x. */
export const DEFER: unique symbol = Symbol("defer to cbor-x");
/** Deeper values go to cbor-x: keeps our recursion shallow; envelopes are 2-3 levels deep. */
export const MAX_DEPTH = 64;
export const NodeBuffer: Function | undefined = (globalThis as { Buffer?: Function }).Buffer;
export const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
