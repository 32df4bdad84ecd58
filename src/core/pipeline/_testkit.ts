/**
 * Test helpers for the pipeline state machine (used by *.test.ts and the bench only).
 */
import { createPipeline, step, type PipelineState } from "./pipeline.ts";
import type { Effect, Event, PipelineConfig, TaskSpec } from "./types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (b: Uint8Array): string => dec.decode(b);

/** Deterministic join encoder: JSON of [parent, [outputs as text]] pairs. */
export function testEncodeJoin(parts: Array<[string, Uint8Array[]]>): Uint8Array {
  return bytes(JSON.stringify(parts.map(([p, outs]) => [p, outs.map(text)])));
}

/**
 * Builds TaskSpecs from an edge list such as "A-->B, A-->C, B-->D, C-->D" (a bare name adds a
 * task with no edges). Tasks appear in first-mention order; parents in edge order.
 */
export function tasksFrom(edges: string, joins: string[] = []): TaskSpec[] {
  const specs = new Map<string, TaskSpec>();
  const get = (name: string): TaskSpec => {
    let s = specs.get(name);
    if (!s) {
      s = { name, parents: [], children: [], join: joins.includes(name) ? "all" : "union" };
      specs.set(name, s);
    }
    return s;
  };
  for (const item of edges.split(",").map((x) => x.trim()).filter(Boolean)) {
    const [from, to] = item.split("-->").map((x) => x.trim());
    if (to === undefined) {
      get(from!);
      continue;
    }
    get(from!).children.push(to);
    get(to).parents.push(from!);
  }
  return [...specs.values()];
}

export function testConfig(edges: string, opts: Partial<PipelineConfig> & { joins?: string[] } = {}): PipelineConfig {
  const { joins, ...rest } = opts;
  return {
    topology: "t",
    tasks: tasksFrom(edges, joins),
    timeoutMs: 1000,
    retry: 2,
    maxPending: 100,
    backoff: { initialMs: 100, maxMs: 1000, factor: 2 },
    leaseMs: 500,
    encodeJoin: testEncodeJoin,
    ...rest,
  };
}

/** An effect with its payload shown as text, for readable exact assertions. */
export type Shown =
  | { type: "deliver"; session: string; delivery: number; rootId: string; edge: [string, string]; attempt: number; payload: string }
  | { type: "ack"; rootId: string }
  | { type: "dead_letter"; rootId: string; payload: string; error: string; attempts: Array<{ attempt: number; error: string; at: number }> }
  | { type: "retry"; rootId: string; attempt: number; error: string; delayMs: number };

export function show(effects: Effect[]): Shown[] {
  return effects.map((e): Shown => {
    if (e.type === "deliver") return { ...e, edge: [e.edge[0], e.edge[1]], payload: text(e.payload) };
    if (e.type === "dead_letter") return { ...e, payload: text(e.payload), attempts: e.attempts.map((a) => ({ ...a })) };
    if (e.type === "ack") return { type: "ack", rootId: e.rootId };
    return { ...e };
  });
}

/** A pipeline plus a clock, with short-hands for events. Every call returns the shown effects. */
export class Harness {
  readonly state: PipelineState;
  now = 0;
  constructor(config: PipelineConfig) {
    this.state = createPipeline(config);
  }
  ev(event: Event): Shown[] {
    return show(step(this.state, event, this.now));
  }
  source(id: string, payload: string, attempt?: number): Shown[] {
    return this.ev(attempt === undefined ? { type: "source", id, payload: bytes(payload) } : { type: "source", id, payload: bytes(payload), attempt });
  }
  open(session: string, task: string, credits = 0): Shown[] {
    const a = this.ev({ type: "session_open", session, task });
    return credits > 0 ? [...a, ...this.credits(session, credits)] : a;
  }
  credits(session: string, n: number): Shown[] {
    return this.ev({ type: "credits", session, n });
  }
  /** An answer, then the one credit a worker sends back with it (answers return none themselves). */
  done(session: string, delivery: number, ...outputs: string[]): Shown[] {
    return [...this.ev({ type: "done", session, delivery, outputs: outputs.map(bytes) }), ...this.credits(session, 1)];
  }
  fail(session: string, delivery: number, error: string): Shown[] {
    return [...this.ev({ type: "fail", session, delivery, error }), ...this.credits(session, 1)];
  }
  heard(session: string): Shown[] {
    return this.ev({ type: "heard", session });
  }
  close(session: string): Shown[] {
    return this.ev({ type: "session_closed", session });
  }
  tick(at: number): Shown[] {
    this.now = at;
    return this.ev({ type: "tick" });
  }
}

/** deliver effect short-hand: d("s1", 1, "r1", "$source>A", "p", 1) */
export function d(session: string, delivery: number, rootId: string, edge: string, payload: string, attempt = 1): Shown {
  const [from, to] = edge.split(">") as [string, string];
  return { type: "deliver", session, delivery, rootId, edge: [from, to], attempt, payload };
}

export function joinPayload(parts: Array<[string, string[]]>): string {
  return JSON.stringify(parts);
}

/** A small seeded PRNG (mulberry32): the randomized tests replay a scenario from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
