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
  edge: [string, string];
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
  private readonly inputs = new Map<number, UnitCall[]>();
  /** Local joins: outputs per parent position. */
  private readonly joinParts = new Map<number, unknown[][]>();
  private pos = 0;
  private list: UnitCall[] | null = null;
  private idx = 0;
  /** Calls made so far, for the answer: [task, ms, task, ms, …] filled by the caller. */
  readonly calls: number[] = [];

  constructor(
    private readonly fusion: Fusion,
    private readonly entry: number,
    edge: [string, string],
    value: unknown,
    private readonly hooks: UnitRunHooks,
  ) {
    const t = fusion.tasks[entry];
    if (t === undefined) throw new Error(`no task #${entry} in this topology`);
    this.cover = t.cover;
    this.inputs.set(entry, [{ task: entry, value, edge }]);
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
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i];
      if (t.exits) this.hooks.exit(call.task, o);
      let used = 0;
      const give = () => (used++ === 0 ? o : this.hooks.clone(o));
      for (const c of t.localUnion) {
        let list = this.inputs.get(c);
        if (list === undefined) this.inputs.set(c, (list = []));
        list.push({ task: c, value: give(), edge: [t.name, tasks[c]!.name] });
      }
      for (const { task: j, pos } of t.localJoin) {
        let parts = this.joinParts.get(j);
        if (parts === undefined) this.joinParts.set(j, (parts = tasks[j]!.parents.map(() => [])));
        parts[pos]!.push(give());
      }
    }
  }

  private callsOf(task: number): UnitCall[] {
    const t = this.fusion.tasks[task]!;
    if (t.joinsLocally && task !== this.entry) {
      const parts = this.joinParts.get(task);
      if (parts === undefined) return []; // no parent produced anything: the branch ends here
      const value: Record<string, unknown[]> = {};
      t.parents.forEach((p, i) => (value[this.fusion.tasks[p]!.name] = parts[i]!));
      return [{ task, value, edge: ["$join", t.name] }];
    }
    return this.inputs.get(task) ?? [];
  }
}
