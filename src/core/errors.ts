/** Every error a user can cause carries a code, a hint, and where it happened. */
export type ErrorCode =
  | "E_USAGE"
  | "E_CONFIG_INVALID"
  | "E_TOML_SYNTAX"
  | "E_PROJECT_MEMBER"
  | "E_MODULE_LOAD"
  | "E_MODULE_SHAPE"
  | "E_GRAPH_SYNTAX"
  | "E_GRAPH_UNKNOWN_TASK"
  | "E_GRAPH_SELF_EDGE"
  | "E_GRAPH_CYCLE"
  | "E_GRAPH_NO_ROOT"
  | "E_GRAPH_UNREACHABLE"
  | "E_GRAPH_EMPTY"
  | "E_DUPLICATE"
  | "E_UNKNOWN_TOPOLOGY"
  | "E_PORT_IN_USE"
  | "E_ROLE_START"
  | "E_RUNTIME"
  | "E_ARTIFACT_MISMATCH"
  | "E_NOT_FOUND"
  | "E_CONFLICT"
  | "E_UNAUTHORIZED"
  | "E_UNREACHABLE";

/** A place in a user's file; line and col are 1-based. */
export interface Location {
  file: string;
  line?: number;
  col?: number;
}

export interface Problem extends Location {
  code: ErrorCode;
  message: string;
  hint?: string;
  severity: "error" | "warning";
}

export class TempestError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  /** Exit code of DESIGN.md §1: 2 for usage or configuration, 1 for runtime failures. */
  readonly exitCode: 1 | 2;
  /** Several problems found at once (e.g. by `check`); the message summarises them. */
  readonly problems: Problem[];

  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; exitCode?: 1 | 2; problems?: Problem[]; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "TempestError";
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 2;
    this.problems = opts.problems ?? [];
  }
}

/** `file:line:col: message — hint`, the one-line form every user-facing problem takes. */
export function formatProblem(p: Omit<Problem, "code" | "severity"> & { severity?: Problem["severity"] }): string {
  const where = [p.file, p.line, p.line !== undefined ? p.col : undefined].filter((x) => x !== undefined).join(":");
  const prefix = p.severity === "warning" ? "warning: " : "";
  return `${where ? `${where}: ` : ""}${prefix}${p.message}${p.hint ? ` — ${p.hint}` : ""}`;
}

/** The property-based stand-in for `instanceof`, safe across module copies. */
export function isTempestError(e: unknown): e is TempestError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "TempestError";
}
