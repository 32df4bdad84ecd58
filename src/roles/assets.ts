import { join, resolve } from "node:path";

/**
 * Files the compiled `tempest` carries besides its code (package.json "build": `--asset
 * skeletons --asset types --asset dist/embed`): the templates of `tempest new`, the editor types
 * of the `tempest` module, and what `tempest build` and `tempest test` need (the pre-bundled
 * runtime of built executables, the type checker, the SDK; see scripts/bundle.ts). Inside the
 * binary an asset folder sits under `/$bunfs/root` by its last name (`dist/embed` → `embed`);
 * run from source, they are the repository's files.
 */
const compiled = Bun.isStandaloneExecutable;
const ROOT = compiled ? import.meta.dir : resolve(import.meta.dir, "../..");

/** A file of skeletons/ or types/. */
export function assetPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/** A file of dist/embed/. */
export function embeddedPath(...parts: string[]): string {
  return compiled ? join(ROOT, "embed", ...parts) : join(ROOT, "dist", "embed", ...parts);
}
