import type { ErrorCode, Problem } from "../../core/errors.ts";
import type { InstanceStatus } from "./instance.ts";

/**
 * The control socket speaks newline-delimited JSON: one request line, one response line, then
 * the connection closes. `logs` is the exception: after its response line come the raw log
 * bytes (not decoded, so invalid UTF-8 passes), until the server closes, or forever with `follow`.
 */
export const CONTROL_VERSION = 1;

export type ControlRequest =
  | { type: "status" }
  | { type: "start"; name: string }
  | { type: "stop"; name: string }
  | { type: "restart"; name: string }
  | { type: "signal"; name: string; signal: string }
  | { type: "logs"; name: string; lines: number; follow: boolean }
  | { type: "reload" }
  | { type: "reopen" };

export interface ReloadSummary {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

export interface WireError {
  code: ErrorCode;
  message: string;
  hint?: string;
  exitCode: 1 | 2;
  problems?: Problem[];
}

export type ControlResponse =
  | { ok: true; pid: number; status?: InstanceStatus[]; reload?: ReloadSummary; message?: string }
  | { ok: false; error: WireError };

const NAMED = new Set(["start", "stop", "restart", "signal", "logs"]);
const TYPES = new Set(["status", "reload", "reopen", ...NAMED]);

/** Validates one decoded request line once, here, so the handlers see only well-formed requests. */
export function parseRequest(line: string): ControlRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "request is not JSON";
  }
  if (typeof v !== "object" || v === null) return "request is not an object";
  const r = v as Record<string, unknown>;
  if (typeof r.type !== "string" || !TYPES.has(r.type)) return `unknown request type ${JSON.stringify(r.type)}`;
  if (NAMED.has(r.type) && typeof r.name !== "string") return `\`${r.type}\` needs a process name`;
  if (r.type === "signal" && typeof r.signal !== "string") return "`signal` needs a signal name";
  if (r.type === "logs" && (typeof r.lines !== "number" || typeof r.follow !== "boolean")) return "`logs` needs lines and follow";
  return r as unknown as ControlRequest;
}
