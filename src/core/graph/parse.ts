/**
 * The Mermaid flowchart subset of DESIGN.md §3: `A --> B`, chains `A --> B --> C`, groups
 * `A --> B & C`, statements separated by `;` or newlines, `%%` comments, and an optional
 * `flowchart LR` / `graph TD` header. Positions are 1-based, relative to the graph text.
 */
export interface GraphNode { name: string; line: number; col: number }
export interface GraphEdge { from: string; to: string; line: number; col: number }
export interface GraphSyntaxError { line: number; col: number; message: string; hint: string }

export interface ParsedGraph {
  /** Every task named, in order of first mention. */
  nodes: GraphNode[];
  /** Every edge as written, duplicates included (validation warns about them). */
  edges: GraphEdge[];
  errors: GraphSyntaxError[];
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const HEADER = /^\s*(flowchart|graph)(\s+(LR|RL|TB|TD|BT))?\s*$/;

export function parseGraph(text: string): ParsedGraph {
  const out: ParsedGraph = { nodes: [], edges: [], errors: [] };
  const seen = new Set<string>();
  const lines = text.split("\n");
  lines.forEach((rawLine, i) => {
    const commentAt = rawLine.indexOf("%%");
    const line = commentAt >= 0 ? rawLine.slice(0, commentAt) : rawLine;
    let start = 0;
    for (const stmt of line.split(";")) {
      parseStatement(stmt, i + 1, start + 1, out, seen);
      start += stmt.length + 1;
    }
  });
  return out;
}

function parseStatement(stmt: string, line: number, colBase: number, out: ParsedGraph, seen: Set<string>): void {
  if (stmt.trim() === "" || HEADER.test(stmt)) return;
  let pos = 0;
  const fail = (message: string, hint: string) => {
    out.errors.push({ line, col: colBase + pos, message, hint });
  };
  const skipSpace = () => {
    while (pos < stmt.length && /\s/.test(stmt[pos] ?? "")) pos++;
  };
  const readGroup = (): GraphNode[] | null => {
    const group: GraphNode[] = [];
    for (;;) {
      skipSpace();
      IDENT.lastIndex = pos;
      const m = IDENT.exec(stmt);
      if (!m) {
        const got = stmt.slice(pos).trim();
        fail(got ? `expected a task name, found \`${got.slice(0, 12)}\`` : "expected a task name after the arrow",
          "task names are letters, digits and _, starting with a letter or _ (e.g. `Split --> Count`)");
        return null;
      }
      group.push({ name: m[0], line, col: colBase + pos });
      pos = IDENT.lastIndex;
      skipSpace();
      if (stmt[pos] !== "&") return group;
      pos++;
    }
  };

  const groups: GraphNode[][] = [];
  const first = readGroup();
  if (!first) return;
  groups.push(first);
  for (;;) {
    skipSpace();
    if (pos >= stmt.length) break;
    const arrow = /-->|---|->|==>|-\.->|--[^>]/y;
    arrow.lastIndex = pos;
    const a = arrow.exec(stmt);
    if (!a || a[0] !== "-->") {
      fail(a ? `unsupported link \`${a[0].trim()}\`` : `unexpected \`${stmt.slice(pos).trim().slice(0, 12)}\``,
        "edges are written `A --> B`; separate statements with `;` or a new line");
      return;
    }
    pos += 3;
    const next = readGroup();
    if (!next) return;
    groups.push(next);
  }
  for (const g of groups) for (const n of g) {
    if (!seen.has(n.name)) {
      seen.add(n.name);
      out.nodes.push(n);
    }
  }
  for (let g = 0; g + 1 < groups.length; g++) {
    for (const from of groups[g] ?? []) for (const to of groups[g + 1] ?? []) {
      out.edges.push({ from: from.name, to: to.name, line: to.line, col: from.col });
    }
  }
}
