import { describe, expect, test } from "bun:test";
import { parseGraph } from "./parse.ts";
import { toMermaid, validateDag } from "./dag.ts";

const check = (tasks: string, graph: string) => validateDag(tasks.split(","), parseGraph(graph));
const messages = (r: ReturnType<typeof check>) => r.problems.map((p) => `${p.severity}:${p.code}:${p.message}`);

describe("validateDag", () => {
  test("a diamond is valid, with one root", () => {
    const r = check("A,B,C,D", "A --> B; A --> C; B --> D; C --> D;");
    expect(r.problems).toEqual([]);
    expect(r.dag.roots).toEqual(["A"]);
    expect(r.dag.edges).toEqual([["A", "B"], ["A", "C"], ["B", "D"], ["C", "D"]]);
  });
  test("an unknown task gets a suggestion", () => {
    const r = check("split,count", "split --> cont");
    expect(r.problems[0]).toMatchObject({ code: "E_GRAPH_UNKNOWN_TASK", hint: "did you mean `count`?", line: 1, col: 11 });
  });
  test("a cycle prints its path", () => {
    expect(messages(check("A,B,C", "A --> B; B --> C; C --> B"))).toContain("error:E_GRAPH_CYCLE:the graph has a cycle: B --> C --> B");
  });
  test("a graph where every task has a parent has no root", () => {
    const m = messages(check("A,B", "A --> B; B --> A"));
    expect(m).toContain("error:E_GRAPH_NO_ROOT:the graph has no root (every task has a parent)");
  });
  test("a task on a cycle that no root reaches is unreachable", () => {
    const m = messages(check("R,A,B", "R; A --> B; B --> A"));
    expect(m).toContain("error:E_GRAPH_UNREACHABLE:task `A` is not reachable from any root (R)");
  });
  test("self edge is an error, duplicate edge a warning, an unused task a warning", () => {
    const m = messages(check("A,B,C", "A --> B; A --> B; B --> B"));
    expect(m).toEqual([
      "warning:E_GRAPH_UNREACHABLE:task `C` is defined but not in the graph, so it never runs",
      "warning:E_DUPLICATE:duplicate edge `A --> B`",
      "error:E_GRAPH_SELF_EDGE:task `B` has an edge to itself",
    ]);
  });
  test("an empty graph", () => {
    expect(messages(check("A", "  \n %% nothing\n"))).toEqual(["error:E_GRAPH_EMPTY:the graph is empty"]);
  });
  test("toMermaid prints flowchart LR and every edge, and lone tasks", () => {
    expect(toMermaid(check("A,B,C", "A --> B; C").dag)).toBe("flowchart LR\n    A --> B\n    C\n");
  });
});
