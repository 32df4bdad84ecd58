/** Issue 13 faults with a redis-stream source, on the compiled binary and a real Redis. */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { diamondFiles } from "../helpers/projects.ts";
import { startTempest, stopAll } from "../helpers/process.ts";
import { startRedis, stopAllRedis, type TestRedis } from "../helpers/redis.ts";
import { cleanupTempDirs, tempProject, waitFor } from "../helpers/tempest.ts";

afterEach(stopAll);
afterAll(async () => {
  await stopAllRedis();
  cleanupTempDirs();
});

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});

const D_RECORDS = `import { defineTask } from "tempest";
import { appendFileSync, mkdirSync } from "node:fs";
mkdirSync("out", { recursive: true });
export default defineTask({ handle(msg, ctx) { appendFileSync("out/d.txt", ctx.msgId + "\\n"); } });
`;

function seen(dir: string): Set<string> {
  const file = join(dir, "out/d.txt");
  return new Set(existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);
}

test("an entry retried for longer than claim_idle_ms is dead-lettered once, and one consumer claims nothing from itself", async () => {
  const key = `${redis.prefix()}:orders`;
  const dir = tempProject(diamondFiles({
    tasks: {
      D: D_RECORDS,
      // Every 50th entry never answers: each of its 4 attempts times out after 1 s, so its root
      // lives about 5 s, well past claim_idle_ms (the message timeout, 1 s).
      B: `import { defineTask } from "tempest";
export default defineTask({ handle(msg) { if (Number(msg.n) % 50 === 0) return new Promise(() => {}); return msg; } });
`,
    },
    runtime: `[topology.y.source]\ntype = "redis-stream"\nuri = "${redis.url}"\nkey = "${key}"\ngroup = "g"\n\n[topology.y.message]\ntimeout = 1000\nretry = 3\n`,
  }));
  const ids = await redis.xadd(key, 200, (i) => ({ n: String(i) }));
  const poison = ids.filter((_, i) => (i + 1) % 50 === 0);
  const run = startTempest(["run", "y"], { cwd: dir });
  await waitFor(async () => seen(dir).size === 200 && Number(await redis.call("XLEN", `${key}:dead`)) >= 4, "every id at D (through C at least) and 4 dead letters", 40_000).catch((e) => {
    console.error(run.stderr().split("\n").slice(-30).join("\n"));
    throw e;
  });
  // A second root of the same entry would start at a claim, about 1 s after the first, and be
  // dead-lettered about 1 s after it: the drain below waits for whatever is still in flight.
  run.proc.kill("SIGTERM");
  expect(await run.exited).toBe(0);
  const letters = (await redis.call("XRANGE", `${key}:dead`, "-", "+")) as Array<[string, string[]]>;
  const letterIds = letters.map(([, f]) => f[f.indexOf("id") + 1]).sort();
  console.log(`dead letters: ${letters.length} for ${new Set(letterIds).size} entries (${poison.length} poison)`);
  expect(letterIds).toEqual([...poison].sort());
  expect(run.stdout()).toContain("read 200, completed 196, retried 12, dead-lettered 4");
  expect(run.stderr()).not.toContain("claimed");
  const pending = (await redis.call("XPENDING", key, "g")) as [number, ...unknown[]];
  expect(Number(pending[0])).toBe(0);
}, 60_000);
