/**
 * EXPERIMENT: run the data plane's own code on synthetic messages at start-up, so the first
 * real ones do not meet cold code. Never calls a user's handler.
 */
import { FrameDecoder, cborJoinMap, decodeCbor, encodeCbor, encodeFrames } from "../codec/index.ts";
import { fuse } from "../core/pipeline/fusion.ts";
import { createPipeline, step, type Effect, type TaskSpec } from "../core/pipeline/index.ts";
import { UnitRun } from "../core/pipeline/unit-run.ts";
import { copyMessage } from "../core/pipeline/copy.ts";

const ROUNDS = Number(process.env.WARM ?? 0);

export function warmTopology(specs: TaskSpec[], units: string[][]): void {
  if (ROUNDS <= 0) return;
  const st = createPipeline({ topology: "warm", tasks: specs, timeoutMs: 1e9, leaseMs: 1e9, retry: 0, maxPending: 1e6, backoff: { initialMs: 0, maxMs: 0, factor: 1 }, units, encodeJoin: cborJoinMap });
  const f = fuse(specs, units);
  const msg = encodeCbor({ seq: 1, data: "x".repeat(64) });
  const pending: Array<Effect & { type: "deliver" }> = [];
  const take = (es: Effect[]) => { for (const e of es) if (e.type === "deliver") pending.push(e); };
  f.units.forEach((u, i) => { take(step(st, { type: "session_open", session: `w${i}`, task: specs[u[0]!]!.name }, 0)); take(step(st, { type: "credits", session: `w${i}`, n: 1e6 }, 0)); });
  const dec = new FrameDecoder();
  for (let r = 0; r < ROUNDS; r++) {
    take(step(st, { type: "source", id: String(r), payload: msg }, 0));
    while (pending.length > 0) {
      const d = pending.shift()!;
      const to = f.byName.get(d.edge[1])!;
      const exits = f.tasks[to]!.exits;
      const frames = dec.push(encodeFrames([{ type: "deliveries", items: [[d.delivery, d.rootId, -1, to, 1, d.payload]] }, { type: "answers", credits: 1, done: [exits ? [d.delivery, [d.payload], [to]] : [d.delivery]], fail: [], calls: [] }])) as Array<{ done?: Array<[number, Uint8Array[]?, number[]?]> }>;
      const done = frames[1]!.done![0]!;
      take(step(st, { type: "done", session: d.session, delivery: d.delivery, outputs: done[1] ?? [], producers: done[2] }, 0));
    }
  }
}

export function warmWorker(specs: TaskSpec[], hosted: string[]): void {
  if (ROUNDS <= 0) return;
  const f = fuse(specs, [hosted]);
  const msg = encodeCbor({ seq: 1, data: "x".repeat(64) });
  class Run extends UnitRun {
    out: Uint8Array[] = [];
    protected exit(_t: number, v: unknown) { this.out.push(encodeCbor(v)); }
    protected clone(v: unknown) { return copyMessage(v); }
  }
  const dec = new FrameDecoder();
  const entry = f.byName.get(hosted[0]!)!;
  for (let r = 0; r < ROUNDS; r++) {
    const frames = dec.push(encodeFrames([{ type: "deliveries", items: [[r, String(r), -1, entry, 1, msg]] }])) as Array<{ items: unknown[][] }>;
    const item = frames[0]!.items[0]!;
    const run = new Run(f, entry, ["$source", hosted[0]!], decodeCbor(item[5] as Uint8Array));
    while (run.next()) run.result(run.value);
    dec.push(encodeFrames([{ type: "answers", credits: 1, done: [[r, run.out, run.out.map(() => entry)]], fail: [], calls: [] }]));
  }
}
