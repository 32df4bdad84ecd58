import { expect, test } from "bun:test";
import { LeaseIndex } from "./_leases.ts";

test("finds what it holds, forgets what was deleted, also past a full turn of its ring", () => {
  const index = new LeaseIndex<{ id: number }>();
  const held = new Map<number, { id: number }>();
  // Leases far apart: the oldest are still held when their slots come round again.
  for (let id = 1; id <= 200_000; id++) {
    const item = { id };
    index.set(item);
    held.set(id, item);
    if (id % 7 !== 0 && id > 10) {
      index.delete(id - 10);
      held.delete(id - 10);
    }
  }
  for (let id = 1; id <= 200_000; id++) expect(index.get(id)).toBe(held.get(id));
  for (const id of held.keys()) index.delete(id);
  for (let id = 1; id <= 200_000; id++) expect(index.get(id)).toBeUndefined();
});
