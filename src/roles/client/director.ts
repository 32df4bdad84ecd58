import { TempestError } from "../../core/errors.ts";

export const DEFAULT_DIRECTOR_URL = "http://127.0.0.1:7700";

/** `--director`, else `TEMPEST_DIRECTOR_URL`, else http://127.0.0.1:7700 (DESIGN.md §9). */
export function directorUrl(flag: string | undefined, env: Record<string, string | undefined> = process.env): { url: string; where: string } {
  const raw = flag ?? env.TEMPEST_DIRECTOR_URL ?? DEFAULT_DIRECTOR_URL;
  const where = flag !== undefined ? "--director" : env.TEMPEST_DIRECTOR_URL ? "TEMPEST_DIRECTOR_URL" : `the default director ${DEFAULT_DIRECTOR_URL}`;
  let url: URL;
  try {
    url = new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch {
    throw new TempestError("E_USAGE", `${where} ${raw} is not a URL`, { hint: "e.g. --director http://10.0.0.1:7700" });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TempestError("E_USAGE", `${where} ${raw} is not an http(s) URL`, { hint: "e.g. --director http://10.0.0.1:7700" });
  return { url: url.origin, where };
}

/** Whether a director answers at `url` within `ms` (any HTTP answer counts, a 401 too). */
export async function directorAnswers(url: string, ms = 500): Promise<boolean> {
  try {
    const res = await fetch(`${url}/api/v1/agents`, { signal: AbortSignal.timeout(ms) });
    await res.body?.cancel();
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

interface ApiErrorBody {
  error?: { code?: string; message?: string; hint?: string };
}

/**
 * The CLI's side of the director's API. Every failure becomes one TempestError line: the
 * director's own `{ error }` when it answered, "not reachable" (exit 1) when it did not, and
 * a 401 explained (exit 2).
 */
export class DirectorClient {
  constructor(readonly url: string, private readonly token: string | undefined, private readonly where = "--director") {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async raw(method: string, path: string, init: { body?: string | ReadableStream<Uint8Array>; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, { method, body: init.body, headers: this.headers(init.headers), signal: init.signal, ...(init.body instanceof ReadableStream ? { duplex: "half" } : {}) } as RequestInit);
    } catch (e) {
      if ((e as Error).name === "AbortError") throw e;
      const code = (e as { code?: string }).code;
      throw new TempestError("E_UNREACHABLE", `the director at ${this.url} is not reachable${code ? ` (${code})` : ""}`, {
        exitCode: 1,
        hint: `start \`tempest director\` there, or point ${this.where === "--director" ? "--director" : `--director (or ${this.where})`} at it`,
      });
    }
    if (res.status === 401) {
      const body = (await res.json().catch(() => ({}))) as ApiErrorBody;
      throw new TempestError("E_UNAUTHORIZED", `the director at ${this.url} refused the request (401: ${body.error?.message ?? "unauthorized"})`, {
        hint: this.token ? "TEMPEST_TOKEN differs from the director's" : "set TEMPEST_TOKEN to the director's token",
      });
    }
    return res;
  }

  /** A JSON call; `stream` sends a raw body instead of `body` (uploads). */
  async json<T>(method: string, path: string, body?: unknown, stream?: ReadableStream<Uint8Array>, headers?: Record<string, string>): Promise<T> {
    const init = stream ? { body: stream, headers } : body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } };
    const res = await this.raw(method, path, init);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new TempestError("E_RUNTIME", `the director at ${this.url} answered ${res.status} with something that is not JSON`, { exitCode: 1, hint: "is that URL a tempest director?" });
    }
    if (!res.ok) throw apiError(res.status, parsed as ApiErrorBody);
    return parsed as T;
  }
}

export function apiError(status: number, body: ApiErrorBody): TempestError {
  const e = body.error ?? {};
  // The caller's mistake (wrong name, bad input, conflict) is a usage error; the director's trouble is a runtime one.
  const exitCode = status >= 400 && status < 500 ? 2 : 1;
  const code = (e.code === "E_NOT_FOUND" || e.code === "E_CONFLICT" || e.code === "E_USAGE" || e.code === "E_ARTIFACT_MISMATCH" ? e.code : status === 404 ? "E_NOT_FOUND" : "E_RUNTIME") as "E_NOT_FOUND";
  return new TempestError(code, e.message ?? `the director answered ${status}`, { exitCode, hint: e.hint });
}
