import { mkdirSync } from "node:fs";
import type { AssignmentDoc, PlannedProcess } from "../../core/cluster/model.ts";
import type { ProcessSpec } from "../../core/supervise/config.ts";
import type { Logger } from "../log.ts";
import type { Supervisor } from "../supervise/supervisor.ts";
import type { ArtifactStore } from "./artifacts.ts";
import { processSpec, workDir, type SpecContext } from "./specs.ts";

export interface Problem {
  id: string;
  reason: string;
}

/**
 * Maps an assignment onto the embedded supervisor (DESIGN.md §8): every process whose artifact
 * is present and verified runs its spec; a process whose artifact cannot be had is not started,
 * and if an older spec of it runs, that one keeps running untouched. The supervisor's reload
 * restarts only what changed, so a new generation that drops one task leaves every other pid.
 */
export class Reconciler {
  /** What the supervisor runs now, by process id. */
  private specs = new Map<string, ProcessSpec>();
  private plannedById = new Map<string, PlannedProcess>();
  /** During a reload: the plan being applied, so the first lines of a new process are known. */
  private incoming = new Map<string, PlannedProcess>();
  /** Problems already logged: each is said once, not on every retry. */
  private said = new Set<string>();
  problems: Problem[] = [];

  constructor(private readonly deps: { ctx: SpecContext; store: ArtifactStore; supervisor: Supervisor; log: Logger }) {}

  get planned(): Map<string, PlannedProcess> {
    return this.plannedById;
  }

  /** Which planned process a supervised name is, also while a reload is starting it. */
  lookup(name: string): PlannedProcess | undefined {
    return this.incoming.get(name) ?? this.plannedById.get(name);
  }

  async apply(doc: AssignmentDoc): Promise<Problem[]> {
    const { store, log, ctx } = this.deps;
    const shas = [...new Set(doc.processes.map((p) => p.sha256))];
    const fetched = new Map<string, string | null>();
    const failures = new Map<string, string>();
    await Promise.all(shas.map(async (sha) => {
      try {
        fetched.set(sha, await store.ensure(sha));
      } catch (e) {
        fetched.set(sha, null);
        failures.set(sha, (e as Error).message);
      }
    }));
    const next: ProcessSpec[] = [];
    const planned = new Map<string, PlannedProcess>();
    const problems: Problem[] = [];
    for (const p of doc.processes) {
      let reason = failures.get(p.sha256);
      if (!reason) {
        try {
          store.link(p.executable, p.sha256);
          mkdirSync(workDir(ctx.home, p.topology), { recursive: true });
          next.push(processSpec(p, ctx));
          planned.set(p.id, p);
          continue;
        } catch (e) {
          reason = `cannot prepare ${p.executable}: ${(e as Error).message}`;
        }
      }
      problems.push({ id: p.id, reason });
      const old = this.specs.get(p.id);
      const oldPlan = this.plannedById.get(p.id);
      if (old && oldPlan) {
        next.push(old);
        planned.set(p.id, oldPlan);
      }
    }
    for (const reason of new Set(problems.map((x) => x.reason))) {
      if (this.said.has(reason)) continue;
      this.said.add(reason);
      const ids = problems.filter((x) => x.reason === reason).map((x) => x.id);
      log.error(`${reason} (needed by ${ids.join(", ")}; generation ${doc.generation})`);
    }
    this.incoming = planned;
    try {
      await this.deps.supervisor.reload({ socket: null, logDir: `${ctx.home}/logs`, processes: next });
    } finally {
      this.incoming = new Map();
    }
    this.specs = new Map(next.map((s) => [s.name, s]));
    this.plannedById = planned;
    this.problems = problems;
    return problems;
  }
}
