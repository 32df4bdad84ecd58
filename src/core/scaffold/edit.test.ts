import { describe, expect, test } from "bun:test";
import { parseToml } from "../config/toml.ts";
import { addGeneratorSource, addModuleTopology, addTaskToTomlTopology, defaultParent, EditFailed } from "./edit.ts";

const DIAMOND = `[project]
name = "demo"

[[topology]]
name = "orders"
graph = """
    A --> B;
    A --> C;
    B --> D;
    C --> D;
"""
  [[topology.task]]
  name = "A"
  type = "src/tasks/a.ts"

  [[topology.task]]
  name = "D"
  type = "src/tasks/d.ts"
  join = "all"          # once per order
`;

describe("addTaskToTomlTopology", () => {
  test("a multi-line graph gets a line in its style and the task entry comes after the last one", () => {
    const out = addTaskToTomlTopology(DIAMOND, { topology: "orders", task: "audit", type: "src/tasks/audit.ts", after: "D" });
    expect(out).toBe(DIAMOND.replace("    C --> D;\n", "    C --> D;\n    D --> audit;\n") +
      `\n  [[topology.task]]\n  name = "audit"\n  type = "src/tasks/audit.ts"\n`);
  });

  test("the entry goes before the next [[topology]] and its comment; other topologies are untouched", () => {
    const text = `${DIAMOND}\n# the second one\n[[topology]]\nname = "other"\ngraph = "X --> Y"\n[[topology.task]]\nname = "X"\ntype = "x.ts"\n`;
    const out = addTaskToTomlTopology(text, { topology: "orders", task: "audit", type: "src/tasks/audit.ts", after: "B" });
    const doc = parseToml("m", out);
    expect(doc.ok).toBe(true);
    if (!doc.ok) return;
    const [orders, other] = doc.doc.data.topology as Array<{ name: string; graph: string; task: Array<{ name: string }> }>;
    expect(orders?.task.map((t) => t.name)).toEqual(["A", "D", "audit"]);
    expect(orders?.graph).toContain("B --> audit;");
    expect(other?.graph).toBe("X --> Y");
    expect(out).toContain(`  type = "src/tasks/audit.ts"\n\n# the second one\n[[topology]]`);
  });

  test("single-line graphs, with and without a final semicolon", () => {
    const base = (g: string) => `[project]\nname = "p"\n\n[[topology]]\nname = "t"\ngraph = ${g}\n[[topology.task]]\nname = "A"\ntype = "a.ts"\n`;
    expect(addTaskToTomlTopology(base(`"A"`), { topology: "t", task: "B", type: "b.ts", after: "A" })).toContain(`graph = "A; A --> B"`);
    expect(addTaskToTomlTopology(base(`'A --> C;'`), { topology: "t", task: "B", type: "b.ts", after: "C" })).toContain(`graph = 'A --> C; C --> B;'`);
  });

  test("a topology that is not in TOML cannot be edited", () => {
    expect(() => addTaskToTomlTopology(`[project]\nname = "p"\n\n[[topology]]\nmod = "x.ts"\n`, { topology: "t", task: "B", type: "b.ts", after: "A" })).toThrow(EditFailed);
  });
});

test("addModuleTopology appends an entry that parses", () => {
  expect(addModuleTopology(`[project]\nname = "p"\n`, "src/topology/b.ts")).toBe(`[project]\nname = "p"\n\n[[topology]]\nmod = "src/topology/b.ts"\n`);
});

test("addGeneratorSource creates or extends Runtime.toml", () => {
  expect(addGeneratorSource(undefined, "t")).toStartWith(`[topology.t.source]\ntype = "generator"`);
  const out = addGeneratorSource(`[topology.a.source]\ntype = "stdin"\n`, "t", 5);
  expect(out).toContain(`type = "stdin"\n\n[topology.t.source]`);
  expect(out).toEndWith("count = 5\n");
});

test("defaultParent is the last task with children, never a task that may be a sink; none known: the candidates", () => {
  expect(defaultParent({ tasks: ["A", "B", "C", "D"], edges: [["A", "B"], ["A", "C"], ["B", "D"], ["C", "D"]], roots: ["A"] })).toEqual({ after: "C", why: "C is the last task with children (D), so it sends messages; D has none and may return nothing" });
  expect(defaultParent({ tasks: ["split", "count", "log"], edges: [["split", "count"], ["split", "log"]], roots: ["split"] })).toEqual({ after: "split", why: "split is the last task with children (count, log), so it sends messages; count, log have none and may return nothing" });
  expect(defaultParent({ tasks: ["hello"], edges: [], roots: ["hello"] })).toEqual({ after: null, candidates: ["hello"] });
});
