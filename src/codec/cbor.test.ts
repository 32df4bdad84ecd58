import { describe, expect, test } from "bun:test";
import { Encoder, Tag } from "cbor-x";
import { cborJoinMap, decodeCbor, encodeCbor } from "./cbor.ts";
import { isCodecError } from "./errors.ts";

/** Reference: plain cbor-x with the wire options, to check the hand-written fast paths against. */
const reference = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, variableMapSize: true, copyBuffers: true });

/** mulberry32: small seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NUMBERS = [
  0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -24, -25, -256, -257, -65537,
  -(2 ** 31), -(2 ** 32), -(2 ** 32) - 1, -(2 ** 53) + 1, 1.5, -0.1, 1e300, 5e-324, 3.4028234663852886e38, Infinity, -Infinity, NaN,
];
const STRINGS = ["", "a", "type", "x".repeat(23), "y".repeat(24), "z".repeat(255), "w".repeat(256), "é", "naïve", "日本語", "emoji 🎉", "\u0000\u007f"];

/** A random plain value: what envelopes and most user messages are made of. */
function randomValue(rnd: () => number, depth = 0): unknown {
  const pick = Math.floor(rnd() * (depth > 2 ? 6 : 9));
  const any = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  switch (pick) {
    case 0: return any(NUMBERS);
    case 1: return Math.floor((rnd() - 0.5) * 2 ** (rnd() * 60));
    case 2: return any(STRINGS) + String.fromCharCode(Math.floor(rnd() * 0x2fff));
    case 3: return any([true, false, null, undefined]);
    case 4: return new Uint8Array(Math.floor(rnd() ** 2 * 300)).map(() => Math.floor(rnd() * 256));
    case 5: return any(STRINGS);
    case 6: return Array.from({ length: Math.floor(rnd() * 12) }, () => randomValue(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let n = Math.floor(rnd() * 12); n > 0; n--) o[any(STRINGS) + Math.floor(rnd() * 50)] = randomValue(rnd, depth + 1);
      return o;
    }
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isCodecError(e)) throw e;
    return e.code;
  }
  throw new Error("expected a CodecError, nothing was thrown");
}

describe("encodeCbor", () => {
  test("writes plain CBOR: shortest map header, bare byte strings, no records or tags", () => {
    expect([...encodeCbor({ a: 1 })]).toEqual([0xa1, 0x61, 0x61, 0x01]);
    expect([...encodeCbor(new Uint8Array([7, 8, 9]))]).toEqual([0x43, 7, 8, 9]);
    // The same shape twice: with records on, the second would be a tag-105 record reference.
    expect([...encodeCbor([{ x: 1 }, { x: 2 }])]).toEqual([0x82, 0xa1, 0x61, 0x78, 0x01, 0xa1, 0x61, 0x78, 0x02]);
  });

  test("returns a buffer of its own that later encodes do not overwrite", () => {
    const first = encodeCbor("first value");
    const snapshot = [...first];
    for (let i = 0; i < 2000; i++) encodeCbor({ i, filler: "x".repeat(50) });
    expect([...first]).toEqual(snapshot);
    expect(first.byteOffset).toBe(0);
    expect(first.buffer.byteLength).toBe(first.length);
  });
});

describe("decodeCbor", () => {
  test("round-trips nested values", () => {
    const v = { s: "héllo", n: -3, f: 1.5, b: new Uint8Array([1, 2]), a: [true, null, { k: "v" }] };
    expect(decodeCbor(encodeCbor(v))).toEqual(v);
  });

  test("byte strings are copies, not views of the input", () => {
    const input = encodeCbor({ msg: new Uint8Array([1, 2, 3]) });
    const out = decodeCbor(input) as { msg: Uint8Array };
    input.fill(0);
    expect([...out.msg]).toEqual([1, 2, 3]);
    expect(out.msg.buffer).not.toBe(input.buffer);
  });

  test("malformed, truncated and trailing input throw E_FRAME_MALFORMED", () => {
    expect(codeOf(() => decodeCbor(new Uint8Array([])))).toBe("E_FRAME_MALFORMED");
    expect(codeOf(() => decodeCbor(new Uint8Array([0xff])))).toBe("E_FRAME_MALFORMED"); // lone break
    expect(codeOf(() => decodeCbor(new Uint8Array([0x1c])))).toBe("E_FRAME_MALFORMED"); // reserved
    const whole = encodeCbor({ text: "hello world", n: 123456 });
    for (let cut = 1; cut < whole.length; cut++) {
      expect(codeOf(() => decodeCbor(whole.subarray(0, cut)))).toBe("E_FRAME_MALFORMED");
    }
    expect(codeOf(() => decodeCbor(new Uint8Array([0x01, 0x02])))).toBe("E_FRAME_MALFORMED"); // two items
  });

  test("the error names the problem and keeps the cause", () => {
    try {
      decodeCbor(new Uint8Array([0x1c]));
      throw new Error("not thrown");
    } catch (e) {
      expect(isCodecError(e)).toBe(true);
      expect((e as Error).message).toStartWith("malformed CBOR (1 bytes): ");
      expect((e as Error).cause).toBeInstanceOf(Error);
    }
  });
});

describe("fast paths agree with cbor-x", () => {
  test("2,000 random plain values: ours → cbor-x, cbor-x → ours, ours → ours", () => {
    const rnd = prng(99);
    for (let i = 0; i < 2000; i++) {
      const v = randomValue(rnd);
      const ours = encodeCbor(v);
      expect(reference.decode(ours)).toEqual(v);
      expect(decodeCbor(new Uint8Array(reference.encode(v)))).toEqual(v);
      expect(decodeCbor(ours)).toEqual(v);
    }
  });

  test("numbers keep their value; -0 becomes 0 as in cbor-x", () => {
    for (const n of NUMBERS) {
      expect(Object.is(decodeCbor(encodeCbor(n)), n)).toBe(true);
      expect(Object.is(reference.decode(encodeCbor(n)), n)).toBe(true);
    }
    expect(Object.is(decodeCbor(encodeCbor(-0)), 0)).toBe(true);
    expect([...encodeCbor(2 ** 32)]).toEqual([0xfb, 0x41, 0xf0, 0, 0, 0, 0, 0, 0]); // float64, like cbor-x
    expect([...encodeCbor(-25)]).toEqual([0x38, 24]);
    expect(decodeCbor(new Uint8Array([0xfa, 0x3f, 0xc0, 0, 0]))).toBe(1.5); // float32
  });

  test("strings of every head size and non-ASCII text round-trip", () => {
    for (const n of [0, 23, 24, 255, 256, 65535, 65536]) {
      for (const unit of ["a", "é", "🎉"]) {
        const str = unit.repeat(n);
        expect(decodeCbor(encodeCbor(str))).toBe(str);
        expect(reference.decode(encodeCbor(str))).toBe(str);
      }
    }
  });

  test("strings are written in place with the shortest head, byte for byte as cbor-x writes them", () => {
    // Written after a head sized for ASCII, then moved when the UTF-8 needs a longer one.
    for (const n of [23, 24, 100, 127, 128, 255, 256, 300, 21845, 21846, 65535, 65536]) {
      for (const unit of ["a", "é", "€", "🎉"]) {
        const str = unit.repeat(n);
        expect([...encodeCbor(str)]).toEqual([...reference.encode(str)]);
      }
    }
    // A lone surrogate is not UTF-8: it becomes U+FFFD, as TextEncoder writes it.
    expect(decodeCbor(encodeCbor("\ud800".repeat(30)))).toBe("\ufffd".repeat(30));
  });

  test("other types are encoded by cbor-x and decoded back by it", () => {
    const date = new Date(1764350000000);
    const v = { date, big: 2n ** 70n, map: new Map([[1, "one"]]), set: new Set([1]), f32: new Float32Array([1.5]), nested: { ok: [1] } };
    const out = decodeCbor(encodeCbor(v)) as typeof v;
    expect(out.date).toEqual(date);
    expect(out.big).toBe(2n ** 70n);
    expect(out.f32).toEqual(new Float32Array([1.5]));
    expect(out.nested).toEqual({ ok: [1] });
    expect(decodeCbor(encodeCbor({ u: 2n ** 64n - 1n }))).toEqual({ u: 2n ** 64n - 1n });
  });

  test("what the fast decoder leaves to cbor-x still decodes", () => {
    const cases: Array<[number[], unknown]> = [
      [[0x9f, 0x01, 0x02, 0xff], [1, 2]], // indefinite-length array
      [[0xbf, 0x61, 0x61, 0x01, 0xff], { a: 1 }], // indefinite-length map
      [[0xf9, 0x3e, 0x00], 1.5], // half float
      [[0xa1, 0x01, 0x02], { 1: 2 }], // integer key
      [[0xc1, 0x1a, 0x69, 0x29, 0xd8, 0x30], new Date(1764350000 * 1000)], // tag 1
      [[0x1b, 0, 0, 0, 1, 0, 0, 0, 0], 2n ** 32n], // 64-bit integer: a bigint, as cbor-x decides
    ];
    for (const [bytes, value] of cases) expect(decodeCbor(new Uint8Array(bytes))).toEqual(value);
    expect(decodeCbor(new Uint8Array([0xd8, 0x63, 0x01]))).toEqual(new Tag(1, 99)); // unknown tag
    // cbor-x's own limit: refused, as a CodecError.
    expect(() => decodeCbor(new Uint8Array([0x7f, 0x61, 0x61, 0xff]))).toThrow("Indefinite length not supported");
  });

  test("a __proto__ key never sets a prototype", () => {
    const bytes = new Uint8Array([0xa1, 0x69, ...new TextEncoder().encode("__proto__"), 0xa1, 0x61, 0x78, 0x01]);
    const out = decodeCbor(bytes) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { x?: unknown }).x).toBeUndefined();
    expect(Object.keys(out)).toEqual(["__proto_"]); // cbor-x's renaming
  });

  test("interned keys stay correct when many keys share cache slots", () => {
    const o: Record<string, number> = {};
    for (let i = 0; i < 5000; i++) o[`k${i}`] = i;
    const bytes = encodeCbor(o);
    for (let round = 0; round < 3; round++) expect(decodeCbor(bytes)).toEqual(o);
    expect(decodeCbor(encodeCbor({ ab: 1, ba: 2, "a\u0080": 3 }))).toEqual({ ab: 1, ba: 2, "a\u0080": 3 });
  });

  test("the key cache keeps its own copy of the key bytes", () => {
    // "q!" and "r\u0002" share a cache slot (same hash); a cached view would see the caller's
    // later writes and hand out "q!" for "r\u0002".
    const input = encodeCbor({ "q!": 1 });
    expect(decodeCbor(input)).toEqual({ "q!": 1 });
    input.set([0x72, 0x02], 2); // the caller reuses its buffer
    expect(decodeCbor(encodeCbor({ "r\u0002": 2 }))).toEqual({ "r\u0002": 2 });
  });

  test("from a Node Buffer: byte strings are plain copies", () => {
    const input = Buffer.from(encodeCbor({ msg: new Uint8Array([4, 5]) }));
    const out = decodeCbor(input) as { msg: Uint8Array };
    expect(out.msg.buffer).not.toBe(input.buffer);
    input.fill(0);
    expect([...out.msg]).toEqual([4, 5]);
    expect([...encodeCbor(Buffer.from([1, 2]))]).toEqual([0x42, 1, 2]); // a Buffer is bytes, untagged
  });

  test("large values grow the scratch buffer; small ones after are unaffected", () => {
    const big = { blob: new Uint8Array(5 * 1024 * 1024).fill(9), s: "é".repeat(300_000) };
    const out = decodeCbor(encodeCbor(big)) as typeof big;
    expect(out.blob.length).toBe(5 * 1024 * 1024);
    expect(out.blob[5 * 1024 * 1024 - 1]).toBe(9);
    expect(out.s).toBe(big.s);
    expect([...encodeCbor({ a: 1 })]).toEqual([0xa1, 0x61, 0x61, 0x01]);
  });

  test("nesting deeper than the fast path's limit round-trips through cbor-x", () => {
    let v: unknown = "leaf";
    for (let i = 0; i < 200; i++) v = [v];
    expect(decodeCbor(encodeCbor(v))).toEqual(v);
  });
});

describe("cborJoinMap", () => {
  test("joins pre-encoded items into a map of arrays without decoding them", () => {
    const joined = cborJoinMap([["B", [encodeCbor(1), encodeCbor({ x: "y" })]], ["C", []]]);
    expect([...joined]).toEqual([0xa2, 0x61, 0x42, 0x82, 0x01, 0xa1, 0x61, 0x78, 0x61, 0x79, 0x61, 0x43, 0x80]);
    expect(decodeCbor(joined)).toEqual({ B: [1, { x: "y" }], C: [] });
  });

  test("an empty map", () => {
    expect([...cborJoinMap([])]).toEqual([0xa0]);
  });

  test.each([23, 24, 255, 256, 65535, 65536])("array of %i items", (n) => {
    const items = Array.from({ length: n }, (_, i) => encodeCbor(i % 7));
    const joined = cborJoinMap([["k", items]]);
    const head = n < 24 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
    expect(joined.length).toBe(1 + 2 + head + n);
    expect(joined[3]).toBe(n < 24 ? 0x80 | n : n < 256 ? 0x98 : n < 65536 ? 0x99 : 0x9a);
    const out = decodeCbor(joined) as { k: number[] };
    expect(out.k.length).toBe(n);
    expect(out.k[n - 1]).toBe((n - 1) % 7);
  });

  test.each([24, 256, 65536])("key of %i bytes", (n) => {
    const key = "é".repeat(n / 2); // 2 UTF-8 bytes each: header counts bytes, not chars
    const joined = cborJoinMap([[key, [encodeCbor("v")]]]);
    expect(joined[1]).toBe(n < 256 ? 0x78 : n < 65536 ? 0x79 : 0x7a);
    expect(decodeCbor(joined)).toEqual({ [key]: ["v"] });
  });

  test.each([24, 300])("map of %i keys", (n) => {
    const parts: Array<[string, Uint8Array[]]> = Array.from({ length: n }, (_, i) => [`k${i}`, [encodeCbor(i)]]);
    const joined = cborJoinMap(parts);
    expect(joined[0]).toBe(n < 256 ? 0xb8 : 0xb9);
    const expected = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, [i]]));
    expect(decodeCbor(joined)).toEqual(expected);
  });

  test("large items are copied verbatim", () => {
    const big = encodeCbor(new Uint8Array(70000).fill(5));
    const out = decodeCbor(cborJoinMap([["big", [big, encodeCbor("tail")]]])) as { big: [Uint8Array, string] };
    expect(out.big[0].length).toBe(70000);
    expect(out.big[0][69999]).toBe(5);
    expect(out.big[1]).toBe("tail");
  });
});
