import { TempestError } from "../errors.ts";

export interface RedisAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** host:port, for messages: never the password. */
  shown: string;
}

/** Checks a `redis://` or `rediss://` URL; a bad one is a configuration error naming it. */
export function parseRedisUrl(uri: string, where: string): RedisAddress {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw badUrl(uri, where);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw badUrl(uri, where);
  const port = url.port ? Number(url.port) : 6379;
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!url.hostname || !Number.isInteger(db) || db < 0) throw badUrl(uri, where);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port,
    db,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === "rediss:",
    shown: `${url.hostname}:${port}`,
  };
}

function badUrl(uri: string, where: string): TempestError {
  const shown = uri.replace(/\/\/[^@/]*@/, "//***@");
  return new TempestError("E_CONFIG_INVALID", `${where}: "${shown}" is not a Redis URL`, { hint: "write it as redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0" });
}
