import { expect, test } from "bun:test";
import { createKeys, deadLetterStream, keyPrefix } from "./keys.ts";

test("keys carry the prefix and the topology hash tag", () => {
  const k = createKeys("tempest");
  expect(k.service("task", k.taskId("wordcount", "split", "0", "h1", 42))).toBe("tempest:svc:task:{wordcount}:split#0@h1:42");
  expect(k.stats("wordcount")).toBe("tempest:stats:{wordcount}");
  expect(k.servicePattern()).toBe("tempest:svc:*");
  expect(deadLetterStream("orders")).toBe("orders:dead");
  expect(keyPrefix({ TEMPEST_KEY_PREFIX: "t1" })).toBe("t1");
  expect(keyPrefix({})).toBe("tempest");
});
