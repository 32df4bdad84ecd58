import { describe, expect, test } from "bun:test";
import { encodeCbor } from "./cbor.ts";
import { isCodecError } from "./errors.ts";
import { DEFAULT_MAX_FRAME, encodeFrame, encodeFrames, FrameDecoder } from "./frame.ts";

/** mulberry32: small seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function caught(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (!isCodecError(e)) throw e;
    return { code: e.code, message: e.message };
  }
  throw new Error("expected a CodecError, nothing was thrown");
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** ~50 values whose frames range from 5 bytes to a few KiB, with headers falling everywhere. */
function variedValues(): unknown[] {
  const rnd = prng(42);
  const values: unknown[] = [0, "", "a", [], {}];
  for (let i = 0; values.length < 50; i++) {
    const n = Math.floor(rnd() ** 3 * 3000);
    values.push(
      i % 3 === 0
        ? { type: "deliver", delivery: i, msg: new Uint8Array(n).fill(i & 0xff), edge: ["a", "b"] }
        : i % 3 === 1
          ? "s".repeat(n)
          : { i, list: Array.from({ length: n % 40 }, (_, j) => j * i), f: i / 7 },
    );
  }
  return values;
}

describe("encodeFrame / encodeFrames", () => {
  test("a frame is a big-endian u32 body length, then the CBOR body", () => {
    expect([...encodeFrame(1)]).toEqual([0, 0, 0, 1, 0x01]);
    expect([...encodeFrame("ab")]).toEqual([0, 0, 0, 3, 0x62, 0x61, 0x62]);
    const big = encodeFrame(new Uint8Array(0x10203));
    expect([...big.subarray(0, 4)]).toEqual([0, 0x01, 0x02, 0x08]); // 0x10203 + 5-byte bstr head
    expect(big.length).toBe(4 + 0x10208);
  });

  test("each frame owns its buffer", () => {
    const a = encodeFrame({ a: 1 });
    const b = encodeFrame({ b: 2 });
    expect(a.buffer).not.toBe(b.buffer);
    expect([...a]).toEqual([0, 0, 0, 4, 0xa1, 0x61, 0x61, 0x01]);
  });

  test("encodeFrames equals the frames concatenated, including across cbor-x buffer refills", () => {
    const values = Array.from({ length: 3000 }, (_, i) => ({ i, pad: "p".repeat(i % 97) }));
    expect([...encodeFrames(values)]).toEqual([...concat(values.map(encodeFrame))]);
    expect(encodeFrames([]).length).toBe(0);
  });
});

describe("FrameDecoder", () => {
  const values = variedValues();
  const stream = concat(values.map(encodeFrame));

  test("the varied stream decodes in one push", () => {
    expect(values.length).toBe(50);
    expect(new FrameDecoder().push(stream)).toEqual(values);
  });

  test("cut at every byte position into two pushes, decodes the same", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const first = d.push(stream.subarray(0, cut));
      const second = d.push(stream.subarray(cut));
      if (first.length + second.length !== 50) throw new Error(`cut ${cut}: ${first.length}+${second.length} frames`);
      expect([...first, ...second]).toEqual(values);
    }
  });

  test("fed one byte at a time, decodes the same", () => {
    const d = new FrameDecoder();
    const out: unknown[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...d.push(stream.subarray(i, i + 1)));
    expect(out).toEqual(values);
  });

  test("10,000 frames in one chunk", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({ type: "ping", t: i }));
    const out = new FrameDecoder().push(encodeFrames(many));
    expect(out.length).toBe(10_000);
    expect(out[0]).toEqual({ type: "ping", t: 0 });
    expect(out[9999]).toEqual({ type: "ping", t: 9999 });
  });

  test("a large frame spread over many chunks arrives whole", () => {
    const payload = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const frame = encodeFrame({ payload });
    const d = new FrameDecoder();
    const out: unknown[] = [];
    for (let at = 0; at < frame.length; at += 65_000) out.push(...d.push(frame.subarray(at, at + 65_000)));
    expect(out.length).toBe(1);
    const got = (out[0] as { payload: Uint8Array }).payload;
    expect(got.length).toBe(payload.length);
    expect(got[1_000_000]).toBe(1_000_000 % 251);
    expect(Buffer.from(got).equals(Buffer.from(payload))).toBe(true);
  });

  test("a header announcing 16 MiB does not reserve 16 MiB before the bytes arrive", () => {
    const d = new FrameDecoder();
    expect(d.push(new Uint8Array([0x01, 0x00, 0x00, 0x00, 0x5a]))).toEqual([]); // 16 MiB announced, 1 byte sent
    // White-box: the partial buffer grows with what arrived (64 KiB to start), not what was announced.
    expect((d as unknown as { body: Uint8Array }).body.length).toBe(64 * 1024);
  });

  test("an empty push returns nothing", () => {
    expect(new FrameDecoder().push(new Uint8Array(0))).toEqual([]);
  });

  test("the caller may reuse its chunk: the unfinished tail was copied", () => {
    const frame = encodeFrame({ text: "kept intact" });
    const chunk = new Uint8Array(frame.length);
    chunk.set(frame);
    const d = new FrameDecoder();
    for (const cut of [2, 9]) {
      expect(d.push(chunk.subarray(0, cut))).toEqual([]);
      const rest = frame.slice(cut);
      chunk.fill(0xee); // reused by the caller
      expect(d.push(rest)).toEqual([{ text: "kept intact" }]);
      chunk.set(frame);
    }
  });

  test("decoded byte strings do not alias the chunk", () => {
    const chunk = encodeFrame({ msg: new Uint8Array([1, 2, 3]) });
    const [out] = new FrameDecoder().push(chunk) as [{ msg: Uint8Array }];
    chunk.fill(0);
    expect([...out.msg]).toEqual([1, 2, 3]);
    expect(out.msg.buffer).not.toBe(chunk.buffer);
  });

  test("an announced length above maxFrame throws on the header alone", () => {
    const d = new FrameDecoder();
    expect(d.maxFrame).toBe(16 * 1024 * 1024);
    expect(DEFAULT_MAX_FRAME).toBe(16 * 1024 * 1024);
    expect(caught(() => d.push(new Uint8Array([0xff, 0xff, 0xff, 0xff])))).toEqual({
      code: "E_FRAME_TOO_LARGE",
      message: "frame of 4294967295 bytes exceeds max_frame 16777216",
    });
  });

  test("the limit applies to a header split across pushes and after good frames", () => {
    const d = new FrameDecoder({ maxFrame: 100 });
    const good = encodeFrame("ok");
    expect(d.push(concat([good, new Uint8Array([0, 0])]))).toEqual(["ok"]);
    expect(caught(() => d.push(new Uint8Array([0, 101]))).message).toBe("frame of 101 bytes exceeds max_frame 100");
  });

  test("a frame of exactly maxFrame is accepted", () => {
    const frame = encodeFrame("y".repeat(98)); // body: 0x78 0x62 + 98 bytes = 100
    expect(frame.length - 4).toBe(100);
    expect(new FrameDecoder({ maxFrame: 100 }).push(frame)).toEqual(["y".repeat(98)]);
    expect(caught(() => new FrameDecoder({ maxFrame: 99 }).push(frame)).code).toBe("E_FRAME_TOO_LARGE");
  });

  test("after a throw the decoder stays dead", () => {
    const d = new FrameDecoder();
    const first = caught(() => d.push(new Uint8Array([0, 0, 0, 0])));
    expect(first).toEqual({ code: "E_FRAME_MALFORMED", message: "zero-length frame: a frame holds exactly one CBOR item" });
    expect(caught(() => d.push(encodeFrame("fine")))).toEqual(first);
  });

  test("malformed bodies throw E_FRAME_MALFORMED", () => {
    const frameOf = (body: number[]) => new Uint8Array([0, 0, 0, body.length, ...body]);
    expect(caught(() => new FrameDecoder().push(frameOf([0xff]))).code).toBe("E_FRAME_MALFORMED"); // break
    expect(caught(() => new FrameDecoder().push(frameOf([0x1c]))).code).toBe("E_FRAME_MALFORMED"); // reserved
    expect(caught(() => new FrameDecoder().push(frameOf([0x01, 0x02]))).code).toBe("E_FRAME_MALFORMED"); // 2 items
    // A truncated CBOR body: the length prefix is honest, the item inside is cut short.
    const item = [...encodeCbor({ text: "hello world" })];
    const cut = caught(() => new FrameDecoder().push(frameOf(item.slice(0, -3))));
    expect(cut.code).toBe("E_FRAME_MALFORMED");
    expect(cut.message).toStartWith(`malformed CBOR (${item.length - 3} bytes): `);
  });

  test("10,000 random inputs never throw anything but CodecError", () => {
    const rnd = prng(20261128);
    const outcomes = { frames: 0, tooLarge: 0, malformed: 0 };
    for (let i = 0; i < 10_000; i++) {
      const bytes = new Uint8Array(Math.floor(rnd() * 64)).map(() => Math.floor(rnd() * 256));
      // Every other input gets a plausible small length so the CBOR decoder is fuzzed too.
      // Some are whole frames (length = the rest), some announce more than they carry.
      if (i % 2 === 0 && bytes.length > 4) {
        const rest = bytes.length - 4;
        bytes.set([0, 0, 0, i % 4 === 0 ? rest : 1 + Math.floor(rnd() * rest)]);
      }
      const d = new FrameDecoder({ maxFrame: 1024 });
      try {
        // Push in two pieces, as a socket might.
        const cut = Math.floor(rnd() * (bytes.length + 1));
        outcomes.frames += d.push(bytes.subarray(0, cut)).length + d.push(bytes.subarray(cut)).length;
      } catch (e) {
        if (!isCodecError(e)) throw new Error(`input ${i} [${bytes}] threw ${String(e)}`);
        outcomes[e.code === "E_FRAME_TOO_LARGE" ? "tooLarge" : "malformed"]++;
      }
    }
    // Every path was exercised.
    expect(outcomes.frames).toBeGreaterThan(20);
    expect(outcomes.tooLarge).toBeGreaterThan(1000);
    expect(outcomes.malformed).toBeGreaterThan(1000);
  }, 20_000);

  test("5,000 valid streams with flipped bytes never throw anything but CodecError", () => {
    const rnd = prng(7);
    const clean = encodeFrames([
      { type: "deliver", delivery: 1, topology_id: "t", msg_id: "m", edge: ["a", "b"], attempt: 0, msg: encodeCbor({ id: 1 }) },
      { type: "done", delivery: 1, outputs: [encodeCbor([1, "two", { three: 3.5 }])], ms: 0.25 },
    ]);
    let survived = 0;
    for (let i = 0; i < 5_000; i++) {
      const bytes = clean.slice();
      for (let flips = 1 + Math.floor(rnd() * 3); flips > 0; flips--) {
        bytes[4 + Math.floor(rnd() * (bytes.length - 4))] = Math.floor(rnd() * 256);
      }
      try {
        new FrameDecoder().push(bytes);
        survived++;
      } catch (e) {
        if (!isCodecError(e)) throw new Error(`input ${i} [${bytes}] threw ${String(e)}`);
      }
    }
    expect(survived).toBeGreaterThan(0);
    expect(survived).toBeLessThan(5_000);
  });

  test("nesting deep enough to overflow the stack is a CodecError, and decoding goes on", () => {
    const body = new Uint8Array(200_000).fill(0x81); // [[[[...
    body[body.length - 1] = 0;
    const frame = concat([new Uint8Array([0, 0x03, 0x0d, 0x40]), body]);
    expect(caught(() => new FrameDecoder().push(frame)).code).toBe("E_FRAME_MALFORMED");
    expect(new FrameDecoder().push(encodeFrame({ after: "overflow" }))).toEqual([{ after: "overflow" }]);
  });
});
