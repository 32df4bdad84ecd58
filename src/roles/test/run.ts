import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TempestError } from "../../core/errors.ts";
import { embeddedPath } from "../assets.ts";
import { selfCommand } from "../local/self.ts";

/**
 * `tempest test`: the project's `bun test`, run by the Bun inside this binary (`BUN_BE_BUN=1`),
 * with a preload that serves the `tempest` module (the SDK, bundled at `npm run build`), so a
 * user needs neither Bun nor npm. Returns bun test's exit code.
 */
export async function runProjectTests(opts: { cwd: string; args: string[] }): Promise<number> {
  const sdk = embeddedPath("sdk.js");
  if (!existsSync(sdk)) {
    throw new TempestError("E_RUNTIME", "this tempest has no embedded SDK (dist/embed/sdk.js)", { exitCode: 1, hint: "build it with `npm run build`" });
  }
  const work = mkdtempSync(join(tmpdir(), "tempest-test-"));
  try {
    // readFile, not copyFile: the embedded file system has no copyfile.
    writeFileSync(join(work, "sdk.js"), readFileSync(sdk));
    const preload = join(work, "preload.js");
    writeFileSync(preload, `import { plugin } from "bun";
import { readFileSync } from "node:fs";
// Written by \`tempest test\`: serves the SDK as the module \`tempest\` to the tests and what they import.
const contents = readFileSync(${JSON.stringify(join(work, "sdk.js"))}, "utf8");
plugin({ name: "tempest-sdk", setup(build) { build.module("tempest", () => ({ contents, loader: "js" })); } });
`);
    // From source, `bun src/cli.ts test` is Bun already; compiled, BUN_BE_BUN makes tempest act as Bun.
    const bun = selfCommand()[0] as string;
    const proc = Bun.spawn([bun, "test", "--preload", preload, ...opts.args], {
      cwd: opts.cwd,
      env: { ...process.env, BUN_BE_BUN: "1" },
      stdio: ["inherit", "inherit", "inherit"],
    });
    // Ctrl-C reaches bun test from the terminal by itself; wait for its exit code either way.
    const onInt = () => {};
    const onTerm = () => proc.kill("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    try {
      return await proc.exited;
    } finally {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
