import { afterAll, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { sdkDeclaration } from "../../scripts/sdk-types.ts";
import { cleanupTempDirs, tempProject } from "../../test/helpers/tempest.ts";

afterAll(cleanupTempDirs);
const root = resolve(import.meta.dir, "../..");

test("types/tempest.d.ts is generated from the SDK source (run `bun scripts/sdk-types.ts`)", async () => {
  expect(await Bun.file(join(root, "types/tempest.d.ts")).text()).toBe(sdkDeclaration());
});

test("the declaration types a user's module and catches a wrong field", () => {
  const dir = tempProject({
    "user.ts": `import { defineTask, defineTopology } from "tempest";
const split = defineTask<{ text: string }, { word: string }>({ handle: (m, ctx) => m.text.split(" ").map((word) => ({ word: word + ctx.attempt })) });
const count = defineTask<{ word: string }, void>({ join: "all", handle: () => {} });
export default defineTopology({ name: "w", tasks: { split, count }, graph: "split --> count" });
export const bad = defineTask<{ text: string }, { word: string }>({ handle: (m) => ({ word: m.nope }) });
`,
  });
  copyFileSync(join(root, "types/tempest.d.ts"), join(dir, "tempest.d.ts"));
  const tsc = Bun.spawnSync([join(root, "node_modules/.bin/tsc"), "--noEmit", "--strict", "--module", "esnext", "--moduleResolution", "bundler", "--target", "esnext", "tempest.d.ts", "user.ts"], { cwd: dir });
  expect(tsc.stdout.toString().trim()).toBe("user.ts(5,95): error TS2339: Property 'nope' does not exist on type '{ text: string; }'.");
});
