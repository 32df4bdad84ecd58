import type { Problem } from "../errors.ts";

/**
 * Templates for `tempest new` and `tempest generate`: a tree of files whose names and contents
 * hold `{{placeholder}}`s. Pure: reading the tree and writing the result happen in roles/.
 *
 * File names: a trailing `.tmpl` is dropped (`split.test.ts.tmpl` → `split.test.ts`, so the
 * skeletons' own tests and modules are not picked up in the tempest repository) and a file named
 * `_gitignore` becomes `.gitignore`.
 */

export interface TemplateFile {
  /** Relative, `/`-separated. */
  path: string;
  /** Text is rendered; bytes (a binary file) are copied as they are. */
  data: string | Uint8Array;
  mode?: number;
}

export interface Template {
  /** `default`, or the folder a local template came from. */
  name: string;
  builtIn: boolean;
  files: TemplateFile[];
}

/** The placeholders `tempest new` fills, with what each holds. */
export const NEW_PLACEHOLDERS: Record<string, string> = {
  "project-name": "the project's name as given (my-streams)",
  project_name: "the name with _ for - (my_streams), usable in identifiers",
  topology: "the first topology's name (the project_name)",
  "tempest-version": "the version of tempest that made the project",
};

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_-]*)\s*\}\}/g;

export interface RenderResult {
  files: TemplateFile[];
  /** Placeholders that occur somewhere (names or contents). */
  used: Set<string>;
  /** Unknown placeholders, left as they are, with where they are. */
  warnings: Problem[];
}

export function renderTemplate(template: Template, vars: Record<string, string>): RenderResult {
  const used = new Set<string>();
  const warnings: Problem[] = [];
  const files: TemplateFile[] = [];
  for (const f of template.files) {
    const where = template.builtIn ? `${template.name}/${f.path}` : f.path;
    const path = outputPath(renderText(f.path, vars, { file: where }, used, warnings));
    const data = typeof f.data === "string" ? renderText(f.data, vars, { file: where }, used, warnings) : f.data;
    files.push({ path, data, mode: f.mode });
  }
  return { files, used, warnings };
}

/** Replaces every known `{{name}}` in `text`; unknown ones stay and are reported once each. */
export function renderText(text: string, vars: Record<string, string>, at: { file: string; line?: number }, used = new Set<string>(), warnings: Problem[] = []): string {
  return text.replace(PLACEHOLDER, (whole, name: string, offset: number) => {
    used.add(name);
    const value = vars[name];
    if (value !== undefined) return value;
    const line = at.line ?? text.slice(0, offset).split("\n").length;
    const col = offset - text.lastIndexOf("\n", offset - 1);
    warnings.push({
      file: at.file, line, col, code: "E_CONFIG_INVALID", severity: "warning",
      message: `unknown placeholder ${whole} left as it is`,
      hint: `known placeholders: ${Object.keys(vars).map((v) => `{{${v}}}`).join(", ")}`,
    });
    return whole;
  });
}

/** The name a template file is written under: without `.tmpl`, `_gitignore` as `.gitignore`. */
export function outputPath(path: string): string {
  const parts = path.split("/").map((p) => (p === "_gitignore" ? ".gitignore" : p));
  const last = parts.length - 1;
  parts[last] = (parts[last] as string).replace(/\.tmpl$/, "");
  return parts.join("/");
}

/**
 * What a local template folder needs to make a project: a `Project.toml` at its root, and the
 * project name placeholder somewhere, or every project made from it would carry the same name.
 * Returns the one-line reason it cannot be used, with its hint.
 */
export function localTemplateProblem(template: Template, rendered: RenderResult): { message: string; hint: string } | undefined {
  const list = Object.keys(NEW_PLACEHOLDERS).map((p) => `{{${p}}}`).join(", ");
  if (!template.files.some((f) => outputPath(f.path) === "Project.toml")) {
    return {
      message: `template folder ${template.name} has no Project.toml`,
      hint: "a template is a Tempest project with placeholders: Project.toml at its root, a member file, modules",
    };
  }
  if (!rendered.used.has("project-name") && !rendered.used.has("project_name")) {
    return {
      message: `template folder ${template.name} never uses {{project-name}}`,
      hint: `put it where the project's name goes, e.g. name = "{{project-name}}" in its member file (placeholders: ${list})`,
    };
  }
  return undefined;
}

/** A rendered path must stay inside the new project. */
export function isSafeRelativePath(path: string): boolean {
  return path !== "" && !path.startsWith("/") && !path.split("/").some((p) => p === ".." || p === "");
}
