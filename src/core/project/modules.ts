import { existsSync } from "node:fs";
import type { Problem } from "../errors.ts";

/** `missing`: the file does not exist (callers word that themselves; never match the message). */
export type ImportResult = { ok: true; ns: Record<string, unknown> } | { ok: false; problem: Problem; missing?: true };

/**
 * Imports a user's module and turns every way it can fail (missing file, syntax error,
 * unresolved import, an exception at load) into one Problem with the best position known.
 * The `tempest` SDK module must already be registered (sdk/plugin.ts) by the caller.
 */
export async function importUserModule(file: string): Promise<ImportResult> {
  if (!existsSync(file)) {
    return { ok: false, missing: true, problem: { file, code: "E_MODULE_LOAD", severity: "error", message: "module not found", hint: "check the path; paths are relative to the project root (the folder of Project.toml)" } };
  }
  try {
    return { ok: true, ns: (await import(file)) as Record<string, unknown> };
  } catch (e) {
    return { ok: false, problem: describeImportError(file, e) };
  }
}

interface BuildMessageLike { message: string; position?: { file?: string; line?: number; column?: number } | null }

function describeImportError(file: string, e: unknown): Problem {
  const base = { code: "E_MODULE_LOAD" as const, severity: "error" as const, file };
  const err = e as { name?: string; message?: string; errors?: BuildMessageLike[]; position?: BuildMessageLike["position"]; stack?: string; code?: string };
  // A syntax error arrives as an AggregateError of build messages with positions.
  const first = err.errors?.[0] ?? (err.position ? (err as BuildMessageLike) : undefined);
  if (first?.position?.line) {
    return { ...base, file: first.position.file ?? file, line: first.position.line, col: first.position.column /* Bun: 1-based already */, message: first.message, hint: "fix the syntax error" };
  }
  if (err.code === "ERR_MODULE_NOT_FOUND" || err.name === "ResolveMessage") {
    const msg = (err.message ?? "").replace(/ imported from .*$/, "");
    return { ...base, message: msg, hint: "install the package in your project (npm install …) or fix the import path" };
  }
  // An exception thrown while the module ran: point at the first stack frame in the user's file.
  const frame = err.stack?.split("\n").find((l) => l.includes(file));
  const pos = frame ? /:(\d+):(\d+)\)?\s*$/.exec(frame) : null;
  return {
    ...base,
    line: pos ? Number(pos[1]) : undefined,
    col: pos ? Number(pos[2]) : undefined,
    message: `the module threw while loading: ${err.message ?? String(e)}`,
    hint: "a task or topology module should only define things at load time",
  };
}

/** Follows a property path into a module namespace: ["default","tasks","split"]. */
export function selectExport(ns: Record<string, unknown>, path: string[]): unknown {
  let v: unknown = ns;
  for (const key of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
