import type { Redis } from "ioredis";

/** Every key matching `pattern`, by SCAN (never KEYS: it would block a busy Redis), each once. */
export async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
    cursor = next;
    for (const k of batch) found.add(k);
  } while (cursor !== "0");
  return [...found];
}
