import { describe, expect, test } from "bun:test";
import { parseGraph } from "./parse.ts";

const edges = (text: string) => parseGraph(text).edges.map((e) => `${e.from}->${e.to}`);

describe("parseGraph", () => {
  test("edges separated by ; and newlines, with comments and a header", () => {
    expect(edges("flowchart LR\nA --> B; A --> C %% fan out\nB --> D;\n%% a comment line\nC --> D")).toEqual(["A->B", "A->C", "B->D", "C->D"]);
  });
  test("chains and & groups", () => {
    expect(edges("A --> B & C --> D")).toEqual(["A->B", "A->C", "B->D", "C->D"]);
    expect(edges("A & B --> C")).toEqual(["A->C", "B->C"]);
  });
  test("a lone node is a one-task graph", () => {
    const g = parseGraph("only;");
    expect(g.nodes.map((n) => n.name)).toEqual(["only"]);
    expect(g.edges).toEqual([]);
  });
  test("positions are 1-based lines and columns of the graph text", () => {
    const g = parseGraph("A --> B;\n  B --> Cc");
    expect(g.nodes.find((n) => n.name === "Cc")).toEqual({ name: "Cc", line: 2, col: 9 });
  });
  test("syntax errors name the place and say how edges are written", () => {
    expect(parseGraph("A -> B").errors).toEqual([{ line: 1, col: 3, message: "unsupported link `->`", hint: "edges are written `A --> B`; separate statements with `;` or a new line" }]);
    expect(parseGraph("A -->").errors[0]?.message).toBe("expected a task name after the arrow");
    expect(parseGraph("A --> 9x").errors[0]?.message).toBe("expected a task name, found `9x`");
    expect(parseGraph("A B").errors[0]?.message).toBe("unexpected `B`");
  });
});
