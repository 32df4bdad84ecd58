import type { ErrorCode } from "../errors.ts";
import { didYouMean } from "../text/suggest.ts";
import type { GraphEdge, ParsedGraph } from "./parse.ts";

/** A problem found in a graph; `line`/`col` are relative to the graph text when known. */
export interface DagProblem {
  code: ErrorCode;
  severity: "error" | "warning";
  message: string;
  hint: string;
  line?: number;
  col?: number;
  /** The declared task the problem is about, when it is not a graph position. */
  task?: string;
}

export interface Dag {
  tasks: string[];
  edges: Array<[string, string]>;
  roots: string[];
}

/** Checks a parsed graph against the declared task names; returns the deduplicated DAG. */
export function validateDag(declared: string[], graph: ParsedGraph): { dag: Dag; problems: DagProblem[] } {
  const problems: DagProblem[] = graph.errors.map((e) => ({
    code: "E_GRAPH_SYNTAX", severity: "error", message: e.message, hint: e.hint, line: e.line, col: e.col,
  }));
  const known = new Set(declared);
  const dag: Dag = { tasks: [], edges: [], roots: [] };

  if (graph.nodes.length === 0 && graph.errors.length === 0) {
    problems.push({
      code: "E_GRAPH_EMPTY", severity: "error", message: "the graph is empty",
      hint: declared.length ? `connect the tasks, e.g. \`${declared[0]} --> ${declared[1] ?? declared[0]}\`, or name a single task alone` : "add tasks and edges such as `A --> B;`",
    });
    return { dag, problems };
  }
  for (const n of graph.nodes) {
    if (!known.has(n.name)) {
      problems.push({
        code: "E_GRAPH_UNKNOWN_TASK", severity: "error", line: n.line, col: n.col,
        message: `the graph names task \`${n.name}\`, which is not defined`,
        hint: didYouMean(n.name, declared) || `define it as a task of this topology (its tasks: ${declared.join(", ")})`,
      });
    }
  }
  const inGraph = new Set(graph.nodes.map((n) => n.name));
  for (const t of declared) {
    if (!inGraph.has(t)) {
      problems.push({
        code: "E_GRAPH_UNREACHABLE", severity: "warning", task: t,
        message: `task \`${t}\` is defined but not in the graph, so it never runs`, hint: "add it to the graph or remove it",
      });
    }
  }

  const seenEdges = new Set<string>();
  for (const e of graph.edges) {
    if (e.from === e.to) {
      problems.push({
        code: "E_GRAPH_SELF_EDGE", severity: "error", line: e.line, col: e.col,
        message: `task \`${e.from}\` has an edge to itself`, hint: "a topology is a DAG: remove the edge or add a second task",
      });
      continue;
    }
    const key = `${e.from}\u0000${e.to}`;
    if (seenEdges.has(key)) {
      problems.push({
        code: "E_DUPLICATE", severity: "warning", line: e.line, col: e.col,
        message: `duplicate edge \`${e.from} --> ${e.to}\``, hint: "remove the repeated edge; it is counted once",
      });
      continue;
    }
    seenEdges.add(key);
    dag.edges.push([e.from, e.to]);
  }
  dag.tasks = graph.nodes.map((n) => n.name).filter((n) => known.has(n));
  const valid = new Set(dag.tasks);
  dag.edges = dag.edges.filter(([a, b]) => valid.has(a) && valid.has(b));
  const hasParent = new Set(dag.edges.map(([, b]) => b));
  dag.roots = dag.tasks.filter((t) => !hasParent.has(t));

  const cycle = findCycle(dag);
  if (cycle) {
    const at = graph.edges.find((e: GraphEdge) => e.from === cycle[0] && e.to === cycle[1]);
    problems.push({
      code: "E_GRAPH_CYCLE", severity: "error", line: at?.line, col: at?.col,
      message: `the graph has a cycle: ${cycle.join(" --> ")}`, hint: "a topology is a DAG: remove one edge of the cycle",
    });
  }
  if (dag.tasks.length > 0 && dag.roots.length === 0) {
    problems.push({
      code: "E_GRAPH_NO_ROOT", severity: "error", message: "the graph has no root (every task has a parent)",
      hint: "at least one task must have no incoming edge; it receives the source messages",
    });
  }
  // Without a cycle every task is reachable from some root, so only a cycle can strand one.
  if (dag.roots.length > 0 && cycle) {
    const reached = reachable(dag);
    for (const t of dag.tasks) {
      if (!reached.has(t)) {
        problems.push({
          code: "E_GRAPH_UNREACHABLE", severity: "error", task: t,
          message: `task \`${t}\` is not reachable from any root (${dag.roots.join(", ")})`,
          hint: "break the cycle it sits on so that a root leads to it",
        });
      }
    }
  }
  return { dag, problems };
}

function children(dag: Dag): Map<string, string[]> {
  const m = new Map<string, string[]>(dag.tasks.map((t) => [t, []]));
  for (const [a, b] of dag.edges) m.get(a)?.push(b);
  return m;
}

/** The first cycle found by DFS, as a closed path: [A, B, A]. */
function findCycle(dag: Dag): string[] | null {
  const next = children(dag);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (t: string): string[] | null => {
    state.set(t, 1);
    stack.push(t);
    for (const c of next.get(t) ?? []) {
      if (state.get(c) === 1) return [...stack.slice(stack.indexOf(c)), c];
      if (!state.has(c)) {
        const found = visit(c);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(t, 2);
    return null;
  };
  for (const t of dag.tasks) {
    if (!state.has(t)) {
      const found = visit(t);
      if (found) return found;
    }
  }
  return null;
}

function reachable(dag: Dag): Set<string> {
  const next = children(dag);
  const seen = new Set<string>();
  const todo = [...dag.roots];
  while (todo.length) {
    const t = todo.pop() as string;
    if (seen.has(t)) continue;
    seen.add(t);
    todo.push(...(next.get(t) ?? []));
  }
  return seen;
}

/** `flowchart LR` followed by one edge per line; what `tempest graph` prints. */
export function toMermaid(dag: Dag): string {
  const lines = ["flowchart LR"];
  const linked = new Set<string>();
  for (const [a, b] of dag.edges) {
    lines.push(`    ${a} --> ${b}`);
    linked.add(a);
    linked.add(b);
  }
  for (const t of dag.tasks) if (!linked.has(t)) lines.push(`    ${t}`);
  return `${lines.join("\n")}\n`;
}
