import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import type { BunPlugin } from "bun";
import { workerUnits } from "../../core/project/workers.ts";
import { chartFile, chartText, describeBuild, entrySource, planExecutables, type EmbeddedProject, type Manifest, type PlannedExecutable } from "../../core/build/plan.ts";
import { TempestError, type Problem } from "../../core/errors.ts";
import type { Project } from "../../core/project/model.ts";
import { initTempestHome } from "../../core/tempest-home.ts";
import { assetPath, embeddedPath } from "../assets.ts";
import { loadTypechecker } from "./load-typecheck.ts";

export interface BuildOptions {
  project: Project;
  /** Default: `<project>/target/build`. */
  out?: string;
  /** Check types first (default true). */
  typecheck?: boolean;
  /** Copy the result into `<home>/bin` (`--install`). */
  installHome?: string;
  tempestVersion: string;
  /** One line per step (stderr in the CLI). */
  progress: (line: string) => void;
}

export interface BuildResult {
  out: string;
  manifest: Manifest;
  seconds: number;
  installed: string[];
}

/**
 * `tempest build`: type check, compile the project once with the Bun inside tempest, and lay out
 * the build folder: one hard link of the executable per topology and task, a Mermaid chart per
 * topology and manifest.json with the sha256 of every file.
 */
export async function buildProject(opts: BuildOptions): Promise<BuildResult> {
  const started = performance.now();
  const { project, progress } = opts;
  const show = (f: string) => relative(process.cwd(), f) || ".";
  const out = resolve(opts.out ?? join(project.root, "target", "build"));
  ensureWritable(out, opts.out ?? show(out));
  const plan = planExecutables(project, packageVersion(project.root));
  if (plan.length === 0) throw new TempestError("E_CONFIG_INVALID", "the project has no topology to build", { hint: "add one with `tempest generate topology <name>`" });

  const modules = userModules(project);
  if (opts.typecheck !== false) {
    const t0 = performance.now();
    progress(`checking types of ${plural(Object.keys(modules).length, "module")} …`);
    const { typecheck, libDir } = await loadTypechecker();
    const checked = typecheck({ root: project.root, files: Object.values(modules), sdkTypes: assetPath("types", "tempest.d.ts"), libDir, cwd: process.cwd() });
    if (checked.problems.length) {
      throw new TempestError("E_MODULE_LOAD", `${plural(checked.problems.length, "type error")}`, { problems: checked.problems });
    }
    if (checked.untyped.length) {
      progress(`warning: no type definitions for ${checked.untyped.join(", ")}: their use is not checked — \`npm i -D @types/bun\` in the project checks them`);
    }
    progress(`types ok (${seconds(t0)} s)`);
  }

  const work = mkdtempSync(join(tmpdir(), "tempest-build-"));
  try {
    const runtime = join(work, "runtime.js");
    writeFileSync(runtime, readFileSync(embeddedPath("runtime.js"))); // the embedded file system has no copyfile
    const entry = join(work, "entry.ts");
    writeFileSync(entry, entrySource(embeddedProject(project, plan, opts.tempestVersion), modules));
    const first = plan[0] as PlannedExecutable;
    const compiled = join(work, first.file);
    const t0 = performance.now();
    progress(`compiling ${first.member} ${first.version}: ${plural(Object.keys(modules).length, "module")}, ${plural(plan.length, "executable")} …`);
    const result = await Bun.build({
      entrypoints: [entry],
      target: "bun",
      // Built executables load no .env or bunfig.toml from wherever they are started.
      compile: { outfile: compiled, autoloadDotenv: false, autoloadBunfig: false },
      sourcemap: "inline",
      plugins: [tempestModule(runtime)],
      throw: false,
    });
    if (!result.success || !existsSync(compiled)) throw compileError(result.logs, show);
    const size = statSync(compiled).size;
    progress(`compiled in ${seconds(t0)} s (${mib(size)})`);

    removePreviousBuild(out);
    const files: Manifest["files"] = {};
    let digest: { sha256: string; ino: number } | undefined;
    for (const [i, exe] of plan.entries()) {
      const target = join(out, exe.file);
      if (existsSync(target)) unlinkSync(target);
      if (i === 0) {
        moveFile(compiled, target);
        chmodSync(target, 0o755);
      } else {
        placeLink(join(out, first.file), target);
      }
      const st = statSync(target);
      if (!digest || digest.ino !== st.ino) digest = { sha256: sha256File(target), ino: st.ino };
      files[exe.file] = { sha256: digest.sha256, size: st.size };
      progress(`  ${show(target)}  ${exe.role === "topology" ? `topology ${exe.topology}` : `task ${exe.task} of ${exe.topology}`}`);
    }
    // What to start: the topology, and one executable per fused worker (any task's would host the same worker).
    for (const t of project.topologies) {
      for (const u of workerUnits(t)) {
        if (u.tasks.length === 1) continue;
        const exe = plan.find((p) => p.role === "task" && p.topology === t.name && p.task === u.leader);
        if (exe) progress(`  to run ${u.tasks.join(", ")} of ${t.name}: start ${exe.file} (${u.workers === 1 ? "one process" : `${u.workers} processes`}, a fused worker that hosts them all)`);
      }
    }
    for (const t of project.topologies) {
      const chart = chartFile(t.name);
      writeFileSync(join(out, chart), chartText(t));
      files[chart] = { sha256: sha256(readFileSync(join(out, chart))), size: statSync(join(out, chart)).size };
    }
    const manifest: Manifest = {
      ...describeBuild(project, plan, { tempestVersion: opts.tempestVersion, builtAt: new Date().toISOString(), platform: `${process.platform}-${process.arch}` }),
      files,
    };
    writeFileSync(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    const installed = opts.installHome ? install(out, plan, manifest, opts.installHome) : [];
    return { out, manifest, seconds: (performance.now() - started) / 1000, installed };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The user's modules by key (path relative to the root): topology modules and task modules. */
function userModules(project: Project): Record<string, string> {
  const modules: Record<string, string> = {};
  for (const t of project.topologies) for (const task of t.tasks) modules[moduleKey(project, task.module)] = task.module;
  return modules;
}

function moduleKey(project: Project, abs: string): string {
  return relative(project.root, abs).split("\\").join("/");
}

function embeddedProject(project: Project, plan: PlannedExecutable[], tempestVersion: string): EmbeddedProject {
  const first = plan[0] as PlannedExecutable;
  return {
    format: 1,
    project: first.member,
    version: first.version,
    tempestVersion,
    runtime: project.runtimeFile ? { file: "Runtime.toml", text: readFileSync(project.runtimeFile, "utf8") } : undefined,
    topologies: project.topologies.map(({ runtime: _runtime, ...t }) => ({
      ...t,
      file: moduleKey(project, t.file),
      tasks: t.tasks.map((task) => ({ ...task, module: moduleKey(project, task.module) })),
    })),
    executables: Object.fromEntries(plan.map((p) => [p.file, p.role === "topology" ? { role: p.role, topology: p.topology } : { role: p.role, topology: p.topology, task: p.task }])),
  };
}

/** `import … from "tempest"` in the user's modules resolves to the runtime bundle (which exports the SDK). */
function tempestModule(runtime: string): BunPlugin {
  return {
    name: "tempest-sdk",
    setup(build) {
      build.onResolve({ filter: /^tempest$/ }, () => ({ path: runtime }));
    },
  };
}

interface BuildLog { message: string; level?: string; position?: { file?: string; line?: number; column?: number } | null }

function compileError(logs: BuildLog[], show: (f: string) => string): TempestError {
  const problems: Problem[] = logs
    .filter((l) => l.level === undefined || l.level === "error")
    .map((l) => ({
      code: "E_MODULE_LOAD", severity: "error",
      file: l.position?.file ? show(l.position.file) : "tempest build",
      line: l.position?.line || undefined,
      col: l.position?.line ? Math.max(1, l.position.column ?? 1) : undefined, // Bun's columns are 1-based
      message: l.message,
      hint: "fix it and build again",
    }));
  if (problems.length === 0) return new TempestError("E_RUNTIME", "the compiler failed without saying why", { exitCode: 1, hint: "try again; if it persists, report it with the project" });
  return new TempestError("E_MODULE_LOAD", `${plural(problems.length, "compile error")}`, { problems });
}

function ensureWritable(out: string, shown: string): void {
  try {
    mkdirSync(out, { recursive: true });
    const probe = join(out, `.tempest-write-test-${process.pid}`);
    writeFileSync(probe, "");
    unlinkSync(probe);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TempestError("E_RUNTIME", `cannot write to ${shown}: ${errnoText(err)}`, { exitCode: 1, hint: "choose a folder you can write to with --out DIR" });
  }
}

/** The files a previous build listed in its manifest go, so no stale version lingers. */
function removePreviousBuild(out: string): void {
  const file = join(out, "manifest.json");
  if (!existsSync(file)) return;
  try {
    const old = JSON.parse(readFileSync(file, "utf8")) as Partial<Manifest>;
    if (old.format !== 1 || typeof old.tempest_version !== "string") return;
    for (const name of Object.keys(old.files ?? {})) {
      if (/^[^/\\]+$/.test(name)) rmSync(join(out, name), { force: true });
    }
  } catch {
    // not ours, or damaged: leave the folder as it is
  }
}

/** A rename when both are on one file system (no 100 MB copy), else a copy. */
function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

function placeLink(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
    chmodSync(to, 0o755);
  }
}

/** `--install`: the executables (one copy, hard links) and the manifest go into $TEMPEST_HOME/bin. */
function install(out: string, plan: PlannedExecutable[], manifest: Manifest, home: string): string[] {
  try {
    initTempestHome(home);
    const bin = join(home, "bin");
    const installed: string[] = [];
    let first: string | undefined;
    for (const exe of plan) {
      const to = join(bin, exe.file);
      rmSync(to, { force: true });
      if (first) placeLink(first, to);
      else {
        copyFileSync(join(out, exe.file), to);
        chmodSync(to, 0o755);
        first = to;
      }
      installed.push(to);
    }
    const manifestCopy = join(bin, `${manifest.project}-${manifest.version}.manifest.json`);
    copyFileSync(join(out, "manifest.json"), manifestCopy);
    installed.push(manifestCopy);
    return installed;
  } catch (e) {
    throw new TempestError("E_RUNTIME", `cannot install into ${home}/bin: ${errnoText(e as NodeJS.ErrnoException)}`, { exitCode: 1, hint: "set TEMPEST_HOME (or --home) to a folder you can write to" });
  }
}

/** `ENOTDIR: not a directory`, without the syscall and path Node appends. */
function errnoText(e: NodeJS.ErrnoException): string {
  return (e.message ?? String(e)).replace(/, \w+ '.*'$/, "");
}

function packageVersion(root: string): string | undefined {
  try {
    const v = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version?: unknown }).version;
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

function sha256File(file: string): string {
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(readFileSync(file));
  return hasher.digest("hex");
}

function sha256(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? "" : "s"}`;
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
