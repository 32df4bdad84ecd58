import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { TempestError, type Problem } from "../../core/errors.ts";
import { PROJECT_NAME_RULE, isSafeRelativePath, localTemplateProblem, projectNameProblem, renderTemplate, snakeName } from "../../core/scaffold/index.ts";
import { assetPath } from "../assets.ts";
import { resolveTemplate } from "./templates.ts";

export interface NewProjectOptions {
  dir: string;
  name?: string;
  template?: string;
  force?: boolean;
  cwd: string;
  tempestVersion: string;
}

export interface NewProject {
  dir: string;
  name: string;
  topology: string;
  template: string;
  /** Written files, relative to `dir`. */
  files: string[];
  /** Unknown placeholders left in a local template's files. */
  warnings: Problem[];
}

/** `tempest new`: renders a template into a new (or, with force, an existing) folder. */
export function createProject(opts: NewProjectOptions): NewProject {
  const dir = resolve(opts.cwd, opts.dir);
  const name = opts.name ?? basename(dir);
  const nameProblem = projectNameProblem(name);
  if (nameProblem) {
    throw new TempestError("E_USAGE", nameProblem, { hint: `${PROJECT_NAME_RULE}${opts.name === undefined ? "; or pass --name NAME" : ""}` });
  }
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new TempestError("E_USAGE", `${opts.dir} exists and is not a folder`, { hint: "choose another place for the project" });
    const entries = readdirSync(dir);
    if (entries.length > 0 && !opts.force) {
      throw new TempestError("E_USAGE", `${opts.dir} is not empty (${entries.length} entr${entries.length === 1 ? "y" : "ies"})`, {
        hint: "choose a new folder, or pass --force to write into it (files with the same names are replaced)",
      });
    }
  }
  const template = resolveTemplate(opts.template ?? "default", opts.cwd);
  const topology = snakeName(name);
  const rendered = renderTemplate(template, { "project-name": name, project_name: topology, topology, "tempest-version": opts.tempestVersion });
  if (!template.builtIn) {
    const problem = localTemplateProblem(template, rendered);
    if (problem) throw new TempestError("E_USAGE", problem.message, { hint: problem.hint });
  }
  for (const f of rendered.files) {
    if (!isSafeRelativePath(f.path)) throw new TempestError("E_USAGE", `template file ${f.path} would be written outside the project`, { hint: "fix the file name in the template" });
  }
  const files = [...rendered.files];
  // Editor types for the `tempest` module, unless the template brings its own.
  if (!files.some((f) => f.path === "types/tempest.d.ts")) files.push({ path: "types/tempest.d.ts", data: readFileSync(assetPath("types", "tempest.d.ts"), "utf8") });

  try {
    for (const f of files) {
      const abs = join(dir, f.path);
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, f.data, f.mode !== undefined ? { mode: f.mode } : undefined);
    }
  } catch (e) {
    throw new TempestError("E_RUNTIME", `cannot write the project into ${opts.dir}: ${(e as Error).message}`, { exitCode: 1, hint: "choose a folder you can write to" });
  }
  return {
    dir,
    name,
    topology,
    template: template.name,
    files: files.map((f) => f.path),
    warnings: rendered.warnings.map((w) => ({ ...w, file: template.builtIn ? w.file : join(template.name, w.file) })),
  };
}
