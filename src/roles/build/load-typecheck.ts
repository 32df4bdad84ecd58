import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TempestError } from "../../core/errors.ts";
import { embeddedPath } from "../assets.ts";

type TypecheckModule = typeof import("./typecheck.ts");

/**
 * Loads the type checker only when a build needs it. Compiled, it is the asset
 * `dist/embed/typecheck.js` (TypeScript bundled apart from tempest's own code, so other commands
 * do not pay for parsing it); Bun cannot import from the binary's embedded files, so it is copied
 * to a temporary file first. From source it is ./typecheck.ts. The specifiers are computed so the
 * bundler does not pull TypeScript into the binary.
 */
export async function loadTypechecker(): Promise<{ typecheck: TypecheckModule["typecheck"]; libDir?: string }> {
  if (!Bun.isStandaloneExecutable) {
    const mod = (await import(join(import.meta.dir, "typecheck.ts"))) as TypecheckModule;
    return { typecheck: mod.typecheck };
  }
  const bundle = embeddedPath("typecheck.js");
  if (!existsSync(bundle)) throw new TempestError("E_RUNTIME", "this tempest has no embedded type checker", { exitCode: 1, hint: "build tempest with `npm run build`, or pass --no-typecheck" });
  const dir = mkdtempSync(join(tmpdir(), "tempest-typecheck-"));
  try {
    const file = join(dir, "typecheck.js");
    writeFileSync(file, readFileSync(bundle)); // the embedded file system has no copyfile
    const mod = (await import(file)) as TypecheckModule;
    return { typecheck: mod.typecheck, libDir: embeddedPath("ts-lib") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
