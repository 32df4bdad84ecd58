import { timingSafeEqual } from "node:crypto";
import { isTempestError, type ErrorCode } from "../../core/errors.ts";
import type { Logger } from "../log.ts";

/** A failure the API answers with a status and `{ error: { code, message, hint } }` (DESIGN.md §9). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: ErrorCode | string, message: string, readonly hint?: string) {
    super(message);
  }
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

export function errorResponse(status: number, code: string, message: string, hint?: string): Response {
  return json({ error: { code, message, ...(hint ? { hint } : {}) } }, status);
}

/** TempestErrors and ApiErrors become their JSON error; anything else is a 500 logged here, never a stack trace on the wire. */
export function toErrorResponse(e: unknown, log: Logger): Response {
  if (e instanceof ApiError) return errorResponse(e.status, e.code, e.message, e.hint);
  if (isTempestError(e)) {
    const status = e.code === "E_NOT_FOUND" || e.code === "E_UNKNOWN_TOPOLOGY" ? 404 : e.code === "E_CONFLICT" ? 409 : e.exitCode === 2 || e.code === "E_ARTIFACT_MISMATCH" ? 400 : 500;
    return errorResponse(status, e.code, e.message, e.hint);
  }
  log.error(`internal error: ${(e as Error)?.stack ?? String(e)}`);
  return errorResponse(500, "E_INTERNAL", "internal error in the director; see its log");
}

/** `Authorization: Bearer <token>` compared in constant time; true when no token is configured. */
export function authorized(req: Request, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1]!.trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function readJson(req: Request): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    throw new ApiError(400, "E_USAGE", "the request body is not JSON");
  }
}
