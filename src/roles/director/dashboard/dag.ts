import { Graph, layout } from "@dagrejs/dagre";

/** What one node shows; `state` picks its colour (Flink's idle / busy / backpressured). */
export interface NodeFigures {
  /** Shown after the name, e.g. `×2` instances. */
  badge?: string;
  lines: string[];
  state: "idle" | "busy" | "backpressured" | "source";
}

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 210;
const NODE_H = 64;
export const SOURCE_NODE = "$source";

/**
 * The DAG as SVG, laid out left to right with dagre (bundled: the page needs no network). The
 * layout is computed once per graph; each update only rewrites the nodes' text and colour, so a
 * topology of many tasks stays cheap to refresh.
 */
export class DagView {
  private key = "";
  private readonly nodes = new Map<string, { g: SVGGElement; texts: SVGTextElement[] }>();

  constructor(private readonly svg: SVGSVGElement) {}

  render(tasks: string[], edges: Array<[string, string]>, figures: Map<string, NodeFigures>): void {
    const key = JSON.stringify([tasks, edges]);
    if (key !== this.key) this.layout(tasks, edges);
    this.key = key;
    for (const [name, n] of this.nodes) {
      const f = figures.get(name);
      n.g.setAttribute("class", `node ${f?.state ?? "idle"}`);
      n.texts.forEach((t, i) => (t.textContent = i === 0 ? `${name === SOURCE_NODE ? "source" : name}${f?.badge ? `  ${f.badge}` : ""}` : (f?.lines[i - 1] ?? "")));
    }
  }

  private layout(tasks: string[], edges: Array<[string, string]>): void {
    const g = new Graph();
    g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 56, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    const withParents = new Set(edges.map(([, to]) => to));
    for (const n of [SOURCE_NODE, ...tasks]) g.setNode(n, { width: NODE_W, height: NODE_H });
    for (const t of tasks) if (!withParents.has(t)) g.setEdge(SOURCE_NODE, t);
    for (const [from, to] of edges) g.setEdge(from, to);
    layout(g);

    this.svg.replaceChildren();
    this.nodes.clear();
    const { width = 0, height = 0 } = g.graph();
    // Drawn at its natural size: a long chain scrolls in its box instead of shrinking to illegible.
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.setAttribute("width", String(width));
    this.svg.setAttribute("height", String(height));
    const defs = el("defs");
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    marker.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#999" }));
    defs.append(marker);
    this.svg.append(defs);
    for (const e of g.edges()) {
      const points: Array<{ x: number; y: number }> = g.edge(e).points ?? [];
      const d = points.map((p, i) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
      const path = el("path", { d, class: "edge" });
      path.dataset.edge = `${e.v}->${e.w}`;
      this.svg.append(path);
    }
    for (const name of g.nodes()) {
      const n = g.node(name);
      const group = el("g", { class: "node", transform: `translate(${n.x - NODE_W / 2}, ${n.y - NODE_H / 2})` }) as SVGGElement;
      group.dataset.node = name;
      group.append(el("rect", { width: String(NODE_W), height: String(NODE_H), rx: "6" }));
      const texts = [0, 1, 2].map((i) => el("text", { x: "8", y: String(16 + i * 16), class: i === 0 ? "name" : "" }) as SVGTextElement);
      group.append(...texts);
      this.svg.append(group);
      this.nodes.set(name, { g: group, texts });
    }
  }
}

function el(tag: string, attrs: Record<string, string> = {}): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
