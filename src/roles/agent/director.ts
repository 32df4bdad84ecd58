import { TempestError } from "../../core/errors.ts";
import type { Logger } from "../log.ts";

const CHECK_TIMEOUT_MS = 3_000;

/**
 * With TEMPEST_TOKEN set, asks the director once at start whether it takes the token: a 401
 * is a configuration error (exit 2). A director that does not answer is not: the data plane
 * never depends on it, so the agent logs that once and carries on.
 */
export async function checkToken(director: string, token: string, log: Logger): Promise<void> {
  let status: number;
  try {
    const res = await fetch(`${director}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
    status = res.status;
    await res.body?.cancel().catch(() => {});
  } catch (e) {
    log.warn(`the director at ${director} is not reachable (${(e as Error).message}); running what Redis assigns, and fetching artifacts when it is back`);
    return;
  }
  if (status === 401) throw new TempestError("E_USAGE", `director at ${director} refused this agent's token (401)`, { hint: "set TEMPEST_TOKEN to the director's token" });
  if (status >= 400) log.warn(`the director at ${director} answered ${status} to GET /api/v1/agents; carrying on`);
}
