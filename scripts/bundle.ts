/**
 * Step one of `npm run build`: bundles what the compiled tempest carries as assets in
 * dist/embed/ (step two, `bun build --compile … --asset dist/embed`, embeds them):
 *   runtime.js   the runtime of the executables `tempest build` makes (src/built/runtime.ts)
 *   typecheck.js the type checker of `tempest build`, TypeScript included (src/roles/build/typecheck.ts)
 *   sdk.js       the `tempest` module that `tempest test` serves to a project's tests
 *   ts-lib/      TypeScript's lib.*.d.ts, which the type checker reads
 *   dashboard/   the director's web page: index.html, style.css and app.js (with the DAG layout
 *                library bundled in: the page loads nothing from the network)
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const out = join(root, "dist", "embed");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "ts-lib"), { recursive: true });

async function bundle(entry: string, name: string, minify: boolean, target: "bun" | "browser" = "bun"): Promise<void> {
  const r = await Bun.build({ entrypoints: [join(root, entry)], target, format: "esm", minify, throw: false, naming: name, outdir: out });
  if (!r.success) {
    for (const log of r.logs) console.error(String(log));
    process.exit(1);
  }
  console.log(`  dist/embed/${name}  ${(statSync(join(out, name)).size / 1024).toFixed(0)} KiB`);
}

await bundle("src/built/runtime.ts", "runtime.js", false);
await bundle("src/roles/build/typecheck.ts", "typecheck.js", true);
await bundle("src/sdk/index.ts", "sdk.js", false);
const libDir = join(root, "node_modules", "typescript", "lib");
const libs = readdirSync(libDir).filter((f) => /^lib\..*\.d\.ts$/.test(f));
for (const f of libs) copyFileSync(join(libDir, f), join(out, "ts-lib", f));
console.log(`  dist/embed/ts-lib/  ${libs.length} files`);
const dashboard = join(root, "src", "roles", "director", "dashboard");
mkdirSync(join(out, "dashboard"), { recursive: true });
await bundle("src/roles/director/dashboard/app.ts", "dashboard/app.js", true, "browser");
for (const f of ["index.html", "style.css"]) copyFileSync(join(dashboard, f), join(out, "dashboard", f));
