import { expect, test } from "bun:test";
import { DeadLetterFile } from "../../../src/roles/sources/dead-letter-file.ts";
import { GeneratorSource } from "../../../src/roles/sources/generator.ts";
import { encodeCbor } from "../../../src/codec/index.ts";

const letters = new DeadLetterFile("/nonexistent/dead.jsonl", "t");

test("a rate-limited poll waits for its next message like a blocking read, instead of answering nothing", async () => {
  // One message every 0.5 ms: shorter than a timer's tick, the case that used to answer nothing.
  const g = new GeneratorSource({ count: 0, size: 4, rate: 2000 }, letters);
  expect((await g.poll(100)).messages.length).toBe(1); // the first is due at once
  for (let i = 0; i < 20; i++) {
    // An empty answer would stop the topology's reading until its next event.
    const { messages } = await g.poll(100);
    expect(messages.length).toBeGreaterThanOrEqual(1);
  }
});

test("the rate holds over many polls: no more messages than are due", async () => {
  const g = new GeneratorSource({ count: 0, size: 4, rate: 1000 }, letters);
  const t0 = performance.now();
  let n = 0;
  while (n < 100) n += (await g.poll(1000)).messages.length;
  // 100 messages at 1,000/s: the 100th is due at 99 ms.
  expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
});

test("unlimited: a poll returns what was asked for, up to the count", async () => {
  const g = new GeneratorSource({ count: 5, size: 4, rate: 0 }, letters);
  expect((await g.poll(3)).messages.map((m) => m.id)).toEqual(["1", "2", "3"]);
  expect((await g.poll(3)).messages.map((m) => m.id)).toEqual(["4", "5"]);
  expect(g.exhausted()).toBe(true);
});

test("each message is exactly encodeCbor({ seq, data }), across the sizes of seq", () => {
  for (const size of [0, 3, 64, 300]) {
    const g = new GeneratorSource({ count: 0, size, rate: 0 }, letters) as unknown as { payload(seq: number): Uint8Array };
    for (const seq of [1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3]) {
      expect([...g.payload(seq)]).toEqual([...encodeCbor({ seq, data: "x".repeat(size) })]);
    }
  }
});
