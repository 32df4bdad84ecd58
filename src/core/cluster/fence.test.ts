import { describe, expect, test } from "bun:test";
import { fence, parseAssignment } from "./fence.ts";

const proc = { id: "y.A.0", kind: "task", topology: "y", task: "A", instance: 0, version: "0.1.0", executable: "demo-A-0.1.0", sha256: "a".repeat(64), stop_timeout_ms: 15000 };
const doc = (over: Record<string, unknown> = {}) => JSON.stringify({ agent: "n1", generation: 3, processes: [proc], director: "d", written_at: 1, ...over });

describe("fence", () => {
  test("only a higher generation is applied", () => {
    expect(fence(4, 3)).toBe("apply");
    expect(fence(3, 3)).toBe("same");
    expect(fence(2, 3)).toBe("stale");
    expect(fence(1, 0)).toBe("apply");
  });
});

describe("parseAssignment", () => {
  test("a valid document", () => {
    const r = parseAssignment(doc(), "n1");
    expect("doc" in r && r.doc.generation).toBe(3);
  });
  test.each([
    ["{", /^the assignment is not JSON/],
    [doc({ agent: "n2" }), /^the assignment is for agent "n2", not "n1"$/],
    [doc({ generation: "3" }), /^the assignment has no whole-number generation$/],
    [doc({ processes: [{ ...proc, executable: "../../bin/sh" }] }), /^processes\[0\] \(y\.A\.0\) has executable "\.\.\/\.\.\/bin\/sh", not a plain file name$/],
    [doc({ processes: [proc, proc] }), /^processes\[1\]\.id y\.A\.0 appears twice$/],
    [doc({ processes: [{ ...proc, id: "a/b" }] }), /^processes\[0\]\.id "a\/b" is not a plain name$/],
  ])("refuses %s", (raw, re) => {
    const r = parseAssignment(raw, "n1");
    expect("error" in r ? r.error : "").toMatch(re);
  });
});
