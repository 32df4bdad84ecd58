/**
 * The type check of `tempest build`, with the TypeScript compiler. Bun strips types without
 * checking them, so without this a build would happily ship `handle(msg: string) { return
 * msg * 2 }`. This module is heavy (TypeScript is ~9 MB of JavaScript), so the compiled tempest
 * does not load it with its own code: `npm run build` bundles it on its own into
 * `dist/embed/typecheck.js`, an asset that `tempest build` loads only when it checks types
 * (./load-typecheck.ts). The TypeScript lib files come as assets too (`dist/embed/ts-lib/`).
 */
import { builtinModules } from "node:module";
import { join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import type { Problem } from "../../core/errors.ts";

export interface TypecheckOptions {
  /** The project root: its tsconfig.json (if any) gives the compiler options. */
  root: string;
  /** The modules to check (topology and task modules); what they import is checked too. */
  files: string[];
  /** The `declare module "tempest"` file. */
  sdkTypes: string;
  /** Where the lib.*.d.ts files are, when not next to the compiler (inside the binary). */
  libDir?: string;
  /** Paths in problems are shown relative to this folder. */
  cwd: string;
}

export interface TypecheckResult {
  problems: Problem[];
  /** Names used without type definitions (node:fs, process, Bun…): not checked, not errors. */
  untyped: string[];
}

/** "Cannot find name 'process'. Do you need to install type definitions for node/Bun?" and the like. */
const MISSING_TYPES = new Set([2580, 2591, 2867, 2868]);
const CANNOT_FIND_MODULE = new Set([2307, 2792]);

const DEFAULT_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ESNext,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  allowImportingTsExtensions: true,
  strict: true,
  skipLibCheck: true,
};

export function typecheck(opts: TypecheckOptions): TypecheckResult {
  const root = resolve(opts.root);
  const problems: Problem[] = [];
  const show = (f: string) => relative(opts.cwd, f) || f;
  let options: ts.CompilerOptions = { ...DEFAULT_OPTIONS };
  const configFile = join(root, "tsconfig.json");
  if (ts.sys.fileExists(configFile)) {
    const read = ts.readConfigFile(configFile, ts.sys.readFile);
    if (read.error) problems.push(toProblem(read.error, show, configFile));
    else {
      // Only the options: the files to check are the project's modules, not the tsconfig's list.
      const parsed = ts.parseJsonConfigFileContent({ ...read.config, files: [], include: [] }, ts.sys, root, undefined, configFile);
      for (const d of parsed.errors) if (d.code !== 18002 && d.code !== 18003) problems.push(toProblem(d, show, configFile));
      options = { ...parsed.options };
    }
  }
  options = { ...options, noEmit: true, allowImportingTsExtensions: options.allowImportingTsExtensions ?? true };
  delete options.outDir;
  delete options.declaration;
  delete options.composite;
  delete options.incremental;
  delete options.tsBuildInfoFile;

  const host = ts.createCompilerHost(options, true);
  if (opts.libDir) {
    const libDir = opts.libDir;
    host.getDefaultLibLocation = () => libDir;
    host.getDefaultLibFileName = (o) => join(libDir, ts.getDefaultLibFileName(o));
  }
  let program = ts.createProgram({ rootNames: [...opts.files, opts.sdkTypes], options, host });
  // A project that declares the module itself (its own copy of tempest.d.ts) does not get ours twice.
  const ownDeclaration = program.getSourceFiles().some((f) => resolve(f.fileName) !== resolve(opts.sdkTypes) && /declare\s+module\s+["']tempest["']/.test(f.text));
  if (ownDeclaration) program = ts.createProgram({ rootNames: opts.files, options, host });

  const builtins = new Set(builtinModules);
  const untyped = new Set<string>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.file && (!isUnder(d.file.fileName, root) || d.file.fileName.includes(`${sep}node_modules${sep}`))) continue;
    const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
    const name = /'([^']+)'/.exec(text)?.[1];
    if (name && MISSING_TYPES.has(d.code)) {
      untyped.add(name);
      continue;
    }
    if (name && CANNOT_FIND_MODULE.has(d.code) && (name === "bun" || name.startsWith("bun:") || name.startsWith("node:") || builtins.has(name))) {
      untyped.add(name);
      continue;
    }
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    problems.push(toProblem(d, show));
  }
  return { problems, untyped: [...untyped].sort() };
}

function toProblem(d: ts.Diagnostic, show: (f: string) => string, fallbackFile?: string): Problem {
  const message = `${chainText(d.messageText)} (TS${d.code})`;
  const base = { code: "E_MODULE_LOAD" as const, severity: "error" as const, message, hint: "fix the type error, or build with --no-typecheck" };
  if (d.file && d.start !== undefined) {
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return { ...base, file: show(d.file.fileName), line: line + 1, col: character + 1 };
  }
  return { ...base, file: show(d.file?.fileName ?? fallbackFile ?? "tsconfig.json") };
}

/**
 * One line from a message chain: TypeScript explains an assignment error from the outside in
 * ("Type '(msg) => …' is not assignable to … Types of property 'word' are incompatible. Type
 * 'number' is not assignable to type 'string'."); the last two steps say what is wrong.
 */
function chainText(m: string | ts.DiagnosticMessageChain): string {
  const steps: string[] = [];
  let at: string | ts.DiagnosticMessageChain | undefined = m;
  while (at !== undefined) {
    if (typeof at === "string") {
      steps.push(at);
      break;
    }
    steps.push(at.messageText);
    at = at.next?.[0];
  }
  return steps.slice(-2).join(" ").replace(/\s+/g, " ").trim();
}

function isUnder(file: string, root: string): boolean {
  const abs = resolve(file);
  return abs === root || abs.startsWith(root + sep);
}
