import { expect, test } from "bun:test";
import { userFrames } from "./stack.ts";

test("keeps the user's frames, relative to the project, and drops tempest's, node_modules' and built-ins'", () => {
  const stack = [
    "Error: 13 is unlucky",
    "    at handle (/home/u/shop/src/tasks/c.ts:3:55)",
    "    at helper (/home/u/shop/node_modules/lib/index.js:1:1)",
    "    at /home/u/shop/src/lib/util.ts:10:2",
    "    at handle (/$bunfs/root/tempest:1234:9)",
    "    at processTicksAndRejections (native:7:39)",
    "    at node:internal/x:1:1",
    "    at other (/elsewhere/lib.ts:4:4)",
    "    at more (/home/u/shop/src/tasks/d.ts:1:1)",
  ].join("\n");
  expect(userFrames(stack, "/home/u/shop")).toBe("src/tasks/c.ts:3:55; src/lib/util.ts:10:2; /elsewhere/lib.ts:4:4");
  expect(userFrames(stack, "/home/u/shop", 1)).toBe("src/tasks/c.ts:3:55");
});

test("nothing of the user's, or no stack: empty", () => {
  expect(userFrames("Error: x\n    at f (/$bunfs/root/tempest:1:1)", "/")).toBe("");
  expect(userFrames(undefined, "/")).toBe("");
});
