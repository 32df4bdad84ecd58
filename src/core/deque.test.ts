import { expect, test } from "bun:test";
import { Deque } from "./deque.ts";

test("deque: both ends, growth across the wrap-around, retain, clear", () => {
  const q = new Deque<number>(4);
  const model: number[] = [];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 5000; i++) {
    const x = rnd();
    if (x < 0.4) {
      q.pushBack(i);
      model.push(i);
    } else if (x < 0.6) {
      q.pushFront(i);
      model.unshift(i);
    } else {
      expect(q.popFront()).toBe(model.shift());
    }
    expect(q.length).toBe(model.length);
    expect(q.peekFront()).toBe(model[0]);
  }
  expect(q.toArray()).toEqual(model);
  q.retain((v) => v % 2 === 0);
  const kept = model.filter((v) => v % 2 === 0);
  expect(q.toArray()).toEqual(kept);
  // Still a working deque after compacting in place across the wrap-around.
  q.pushBack(-1);
  q.pushFront(-2);
  expect(q.toArray()).toEqual([-2, ...kept, -1]);
  expect(q.popFront()).toBe(-2);
  q.retain(() => false);
  expect(q.length).toBe(0);
  expect(q.popFront()).toBeUndefined();
  q.pushBack(5);
  expect(q.toArray()).toEqual([5]);
  q.clear();
  expect(q.length).toBe(0);
  expect(q.popFront()).toBeUndefined();
});
