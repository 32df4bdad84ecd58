import { PROCESS_NAME } from "../supervise/config.ts";
import type { AssignmentDoc } from "./model.ts";

/**
 * The agent's side of fencing (DESIGN.md §8): an assignment is applied only when its
 * generation is above every one seen before, so a stale director cannot undo a newer decision.
 */
export type FenceDecision = "apply" | "same" | "stale";

export function fence(generation: number, seen: number): FenceDecision {
  return generation > seen ? "apply" : generation === seen ? "same" : "stale";
}

/** Validates `tempest:assign:<agent>` once, at the boundary; the error is one line. */
export function parseAssignment(raw: string, agent: string): { doc: AssignmentDoc } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return { error: `the assignment is not JSON (${(e as Error).message})` };
  }
  const d = v as Partial<AssignmentDoc>;
  if (typeof d !== "object" || d === null) return { error: "the assignment is not an object" };
  if (d.agent !== agent) return { error: `the assignment is for agent ${JSON.stringify(d.agent)}, not ${JSON.stringify(agent)}` };
  if (typeof d.generation !== "number" || !Number.isInteger(d.generation) || d.generation < 0) return { error: "the assignment has no whole-number generation" };
  if (!Array.isArray(d.processes)) return { error: "the assignment has no processes list" };
  const ids = new Set<string>();
  for (const [i, p] of d.processes.entries()) {
    const where = `processes[${i}]`;
    if (typeof p !== "object" || p === null) return { error: `${where} is not an object` };
    if (typeof p.id !== "string" || !PROCESS_NAME.test(p.id)) return { error: `${where}.id ${JSON.stringify(p.id)} is not a plain name` };
    if (ids.has(p.id)) return { error: `${where}.id ${p.id} appears twice` };
    ids.add(p.id);
    if (p.kind !== "topology" && p.kind !== "task") return { error: `${where} (${p.id}) has kind ${JSON.stringify(p.kind)}` };
    if (typeof p.topology !== "string" || !p.topology) return { error: `${where} (${p.id}) has no topology` };
    if (p.kind === "task" && (typeof p.task !== "string" || !p.task)) return { error: `${where} (${p.id}) is a task without a task name` };
    if (typeof p.instance !== "number") return { error: `${where} (${p.id}) has no instance number` };
    if (typeof p.executable !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p.executable)) return { error: `${where} (${p.id}) has executable ${JSON.stringify(p.executable)}, not a plain file name` };
    if (typeof p.sha256 !== "string") return { error: `${where} (${p.id}) has no sha256` };
    if (typeof p.stop_timeout_ms !== "number" || p.stop_timeout_ms < 0) return { error: `${where} (${p.id}) has no stop_timeout_ms` };
  }
  return { doc: d as AssignmentDoc };
}
