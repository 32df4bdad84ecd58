import { expect, test } from "bun:test";
import { blockedFor, type WatchState } from "./hang-watchdog.ts";

const LIMIT = 1000;
const LATE = 800;

test("a loop that keeps bumping its counter is never blocked; one that stops is, once the limit is reached", () => {
  const w: WatchState = { seen: 0, since: 0, lastTick: 0 };
  for (let t = 200, count = 1; t <= 2000; t += 200, count++) expect(blockedFor(w, t, count, LIMIT, LATE)).toBeNull();
  // The counter stays at 10 from 2000 on.
  for (let t = 2200; t < 3000; t += 200) expect(blockedFor(w, t, 10, LIMIT, LATE)).toBeNull();
  expect(blockedFor(w, 3000, 10, LIMIT, LATE)).toBe(1000);
});

test("a check that comes late (the whole process was paused) starts the count again instead of ending it", () => {
  const w: WatchState = { seen: 5, since: 0, lastTick: 0 };
  expect(blockedFor(w, 200, 5, LIMIT, LATE)).toBeNull();
  // SIGSTOP for 15 s: the first check after SIGCONT sees the same counter, 15 s on.
  expect(blockedFor(w, 15_200, 5, LIMIT, LATE)).toBeNull();
  expect(blockedFor(w, 15_400, 5, LIMIT, LATE)).toBeNull();
  // Still no bump a whole limit after the resume: now it is a hang.
  for (let t = 15_600; t < 16_200; t += 200) expect(blockedFor(w, t, 5, LIMIT, LATE)).toBeNull();
  expect(blockedFor(w, 16_200, 5, LIMIT, LATE)).toBe(1000);
});

test("the watcher thread runs blockedFor from its source text: it stands alone", () => {
  const fromText = new Function(`return (${blockedFor.toString()});`)() as typeof blockedFor;
  const w: WatchState = { seen: 1, since: 0, lastTick: 0 };
  expect(fromText(w, 200, 1, 200, LATE)).toBe(200);
});
