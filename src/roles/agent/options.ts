import { hostname } from "node:os";
import { TempestError } from "../../core/errors.ts";
import { parseRedisUrl } from "../../core/config/redis-url.ts";
import { resolveTempestHome } from "../../core/tempest-home.ts";

/** Everything `tempest agent` runs with (DESIGN.md §8), validated. */
export interface AgentOptions {
  director: string;
  redis: string;
  name: string;
  advertise: string;
  slots: number;
  home: string;
  ttlMs: number;
  beatMs: number;
  token: string | undefined;
}

export interface AgentFlags {
  director?: string;
  redis?: string;
  name?: string;
  advertise?: string;
  slots?: string;
  home?: string;
}

export const DEFAULT_DIRECTOR = "http://127.0.0.1:7700";
export const DEFAULT_REDIS = "redis://127.0.0.1:6379/0";
/** The agent's name is part of Redis keys, consumer names and file names: keep it plain. */
const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Flags, then environment, then defaults; a bad value is one E_USAGE line (exit 2). */
export function resolveAgentOptions(flags: AgentFlags, env: Record<string, string | undefined>): AgentOptions {
  const director = (flags.director ?? env.TEMPEST_DIRECTOR_URL ?? DEFAULT_DIRECTOR).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+/.test(director)) throw new TempestError("E_USAGE", `--director ${director} is not an http(s) URL`, { hint: "e.g. --director http://10.0.0.1:7700" });
  const redis = flags.redis ?? env.TEMPEST_REDIS_URL ?? DEFAULT_REDIS;
  parseRedisUrl(redis, flags.redis !== undefined ? "--redis" : "TEMPEST_REDIS_URL");
  const name = flags.name ?? hostname();
  if (!AGENT_NAME.test(name)) throw new TempestError("E_USAGE", `--name ${JSON.stringify(name)} is not a plain name`, { hint: "use letters, digits, `.`, `_` and `-`, starting with a letter or digit" });
  const advertise = flags.advertise ?? "127.0.0.1";
  if (advertise.trim() === "" || /\s/.test(advertise)) throw new TempestError("E_USAGE", `--advertise ${JSON.stringify(advertise)} is not a host`, { hint: "the address other hosts reach this one at, e.g. --advertise 10.0.0.5" });
  const slots = positiveInt(flags.slots ?? "8", "--slots", "how many processes this agent may run, e.g. --slots 8");
  const home = resolveTempestHome(flags.home, env);
  const ttlMs = positiveInt(env.TEMPEST_AGENT_TTL_MS ?? "10000", "TEMPEST_AGENT_TTL_MS", "milliseconds, e.g. 10000");
  const beatMs = positiveInt(env.TEMPEST_AGENT_BEAT_MS ?? "2000", "TEMPEST_AGENT_BEAT_MS", "milliseconds, e.g. 2000");
  if (beatMs >= ttlMs) throw new TempestError("E_USAGE", `TEMPEST_AGENT_BEAT_MS ${beatMs} is not below TEMPEST_AGENT_TTL_MS ${ttlMs}`, { hint: "beat several times per TTL, e.g. 2000 and 10000" });
  return { director, redis, name, advertise, slots, home, ttlMs, beatMs, token: env.TEMPEST_TOKEN || undefined };
}

function positiveInt(raw: string, what: string, hint: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < 1) throw new TempestError("E_USAGE", `${what} ${raw} is not a whole number above 0`, { hint });
  return n;
}

/** True for 127.0.0.0/8, ::1 and localhost: such an agent's processes only listen on loopback. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}
