import { expect, test } from "bun:test";
import { copyMessage } from "./copy.ts";

test("a copy is equal and shares nothing a handler could change", () => {
  const flat = { a: 1, b: "x", c: null, d: true };
  const nested = { a: { b: [1, { c: 2 }] }, bytes: new Uint8Array([1, 2]) };
  const list = [1, "two", null];
  for (const v of [flat, nested, list, [flat], "s", 3, null]) {
    const c = copyMessage(v);
    expect(c).toEqual(v);
    if (typeof v === "object" && v !== null) expect(c).not.toBe(v);
  }
  const n = copyMessage(nested) as typeof nested;
  (n.a.b[1] as { c: number }).c = 99;
  expect((nested.a.b[1] as { c: number }).c).toBe(2);
  expect(n.bytes).not.toBe(nested.bytes);
});
