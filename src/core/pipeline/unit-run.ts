/**
 * What a fused worker does with one delivery (DESIGN.md §5), sans-IO: the delivery enters at a
 * task, and every task it reaches inside the worker runs as a function call, in topological
 * order, on values passed by reference. The caller makes the calls (sync or async, its choice):
 *
 *   class Run extends UnitRun { exit(task, value) { … } clone(value) { … } }
 *   const run = new Run(fusion, entry, edge, value);
 *   while (run.next()) run.result(await handler(run.task, run.value, run.edge));
 *
 * Semantics are those of one process per task: a union task is called once per input, a join
 * the worker resolves is called once with `{ <parent>: outputs[] }` when at least one parent
 * produced something, and every output is seen by every child. An output with several
 * consumers here gets a copy (`clone`) for all but the first, so a handler that changes its
 * input does not change its sibling's. Outputs that leave the worker go to `exit` at once, in
 * order, so the caller can encode them before any later call runs.
 *
 * It is on the hot path of every delivery: one object per delivery (the caller's subclass
 * adds its own fields), the current call in fields rather than an object per call, and the
 * inputs waiting for later tasks in one flat list, made only when a task has a local child.
 */
import type { Fusion } from "./fusion.ts";

export abstract class UnitRun {
  /** The current call, valid from next() returning true until the next next(). */
  task: number;
  value: unknown;
  /** Shared between calls: read it, do not change it. */
  edge: readonly [string, string];

  private readonly cover: number[];
  /** Position in `cover` of the task being called. */
  private pos = 0;
  /** The entry's call is still to be made. */
  private entryDue = true;
  /** Inputs for later tasks: [task, value, edge] triples in the order they were made. */
  private pending: unknown[] | null = null;
  private scan = 0;
  /** Local joins: outputs per join task, per parent position. */
  private joinParts: Array<unknown[][] | undefined> | null = null;

  constructor(private readonly fusion: Fusion, readonly entry: number, edge: readonly [string, string], value: unknown) {
    const t = fusion.tasks[entry];
    if (t === undefined) throw new Error(`no task #${entry} in this topology`);
    this.cover = t.cover;
    this.task = entry;
    this.value = value;
    this.edge = edge;
  }

  /** An output of `task` that the topology routes on (encode it now). */
  protected abstract exit(task: number, value: unknown): void;
  /** A copy of a value for its second and later consumers. */
  protected abstract clone(value: unknown): unknown;

  /** Moves to the next call (its task, value and edge in the fields); false when the delivery is finished. */
  next(): boolean {
    if (this.entryDue) {
      this.entryDue = false;
      return true;
    }
    const tasks = this.fusion.tasks;
    const cover = this.cover;
    for (;;) {
      // More inputs for the current task (a union task is called once per input)?
      const p = this.pending;
      if (this.pos > 0 && p !== null && !tasks[cover[this.pos]!]!.joinsLocally) {
        const task = cover[this.pos]!;
        for (let i = this.scan; i < p.length; i += 3) {
          if (p[i] === task) {
            this.scan = i + 3;
            this.set(task, p[i + 1], p[i + 2] as readonly [string, string]);
            return true;
          }
        }
      }
      if (++this.pos >= cover.length) return false;
      this.scan = 0;
      const task = cover[this.pos]!;
      const t = tasks[task]!;
      if (t.joinsLocally) {
        const parts = this.joinParts?.[task];
        if (parts === undefined) continue; // no parent produced anything: the branch ends here
        const value: Record<string, unknown[]> = {};
        for (let i = 0; i < t.parents.length; i++) value[tasks[t.parents[i]!]!.name] = parts[i]!;
        this.set(task, value, t.joinEdge);
        return true;
      }
    }
  }

  /** Routes what the current call's handler returned: nothing (undefined, null), one value, or an array of values. */
  result(returned: unknown): void {
    if (returned === undefined || returned === null) return;
    if (Array.isArray(returned)) for (let i = 0; i < returned.length; i++) this.route(returned[i]);
    else this.route(returned);
  }

  private route(o: unknown): void {
    const t = this.fusion.tasks[this.task]!;
    if (t.exits) this.exit(this.task, o);
    // The first consumer gets the value itself, the others a copy each.
    let used = false;
    const union = t.localUnion;
    for (let k = 0; k < union.length; k++) {
      (this.pending ??= []).push(union[k], used ? this.clone(o) : o, t.localUnionEdges[k]);
      used = true;
    }
    const joins = t.localJoin;
    for (let k = 0; k < joins.length; k++) {
      const j = joins[k]!;
      const all = (this.joinParts ??= []);
      const parts = (all[j.task] ??= this.fusion.tasks[j.task]!.parents.map(() => []));
      parts[j.pos]!.push(used ? this.clone(o) : o);
      used = true;
    }
  }

  private set(task: number, value: unknown, edge: readonly [string, string]): void {
    this.task = task;
    this.value = value;
    this.edge = edge;
  }
}
