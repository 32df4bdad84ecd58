/**
 * What a fused worker does with one delivery (DESIGN.md §5), sans-IO: the delivery enters at a
 * task, and every task it reaches inside the worker runs as a function call, in topological
 * order, on values passed by reference. The caller makes the calls (sync or async, its choice):
 *
 *   const run = new UnitRun(fusion, entry, edge, value, { exit, clone });
 *   for (let call = run.next(); call; call = run.next()) run.result(call, await handler(call));
 *
 * Semantics are those of one process per task: a union task is called once per input, a join
 * the worker resolves is called once with `{ <parent>: outputs[] }` when at least one parent
 * produced something, and every output is seen by every child. An output with several
 * consumers here gets a copy (`clone`) for all but the first, so a handler that changes its
 * input does not change its sibling's. Outputs that leave the worker go to `exit` at once, in
 * order, so the caller can encode them before any later call runs.
 */
import type { Fusion } from "./fusion.ts";

export interface UnitCall {
  task: number;
  value: unknown;
  /** Shared between calls: read it, do not change it. */
  edge: readonly [string, string];
}

export interface UnitRunHooks {
  /** An output of `task` that the topology routes on (encode it now). */
  exit: (task: number, value: unknown) => void;
  /** A copy of a value for its second and later consumers. */
  clone: (value: unknown) => unknown;
}

export class UnitRun {
  private readonly cover: number[];
  /** Inputs waiting per task index (union inputs), filled by the calls before it. */
  private readonly inputs: Array<UnitCall[] | undefined> = [];
  /** Local joins: outputs per parent position. */
  private joinParts: Array<unknown[][] | undefined> | null = null;
  private pos = 0;
  private list: UnitCall[] | null = null;
  private idx = 0;
  /** Calls made so far, for the answer: [task, ms, task, ms, …] filled by the caller. */
  readonly calls: number[] = [];

  constructor(
    private readonly fusion: Fusion,
    private readonly entry: number,
    edge: readonly [string, string],
    value: unknown,
    private readonly hooks: UnitRunHooks,
  ) {
    const t = fusion.tasks[entry];
    if (t === undefined) throw new Error(`no task #${entry} in this topology`);
    this.cover = t.cover;
    this.inputs[entry] = [{ task: entry, value, edge }];
  }

  /** The next call to make, or null when the delivery is finished. */
  next(): UnitCall | null {
    for (;;) {
      if (this.list !== null && this.idx < this.list.length) return this.list[this.idx++]!;
      if (this.list !== null) this.pos++;
      if (this.pos >= this.cover.length) {
        this.list = null;
        return null;
      }
      this.list = this.callsOf(this.cover[this.pos]!);
      this.idx = 0;
    }
  }

  /** Routes the outputs of `call` (the one next() returned last). */
  result(call: UnitCall, outputs: unknown[]): void {
    const t = this.fusion.tasks[call.task]!;
    const tasks = this.fusion.tasks;
    const union = t.localUnion;
    const joins = t.localJoin;
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i];
      if (t.exits) this.hooks.exit(call.task, o);
      // The first consumer gets the value itself, the others a copy each.
      let used = false;
      for (let k = 0; k < union.length; k++) {
        const c = union[k]!;
        const list = (this.inputs[c] ??= []);
        list.push({ task: c, value: used ? this.hooks.clone(o) : o, edge: t.localUnionEdges[k]! });
        used = true;
      }
      for (let k = 0; k < joins.length; k++) {
        const j = joins[k]!;
        const all = (this.joinParts ??= []);
        const parts = (all[j.task] ??= tasks[j.task]!.parents.map(() => []));
        parts[j.pos]!.push(used ? this.hooks.clone(o) : o);
        used = true;
      }
    }
  }

  private callsOf(task: number): UnitCall[] {
    const t = this.fusion.tasks[task]!;
    if (t.joinsLocally && task !== this.entry) {
      const parts = this.joinParts?.[task];
      if (parts === undefined) return []; // no parent produced anything: the branch ends here
      const value: Record<string, unknown[]> = {};
      t.parents.forEach((p, i) => (value[this.fusion.tasks[p]!.name] = parts[i]!));
      return [{ task, value, edge: t.joinEdge }];
    }
    return this.inputs[task] ?? [];
  }
}
