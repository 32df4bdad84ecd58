import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { TempestError } from "../../core/errors.ts";
import type { Template, TemplateFile } from "../../core/scaffold/index.ts";
import { didYouMean } from "../../core/text/suggest.ts";
import { assetPath } from "../assets.ts";

/** Folders never copied from a template folder. */
const SKIP = new Set([".git", "node_modules", "target", "dead-letter"]);

/** The built-in templates: the folders of skeletons/ (those starting with `_` are private). */
export function builtInTemplates(): string[] {
  return readdirSync(assetPath("skeletons")).filter((n) => !n.startsWith("_") && statSync(assetPath("skeletons", n)).isDirectory()).sort();
}

/**
 * `--template T`: a built-in name, or a path to a folder (anything with a `/`, or starting with
 * `.` or `~`). An unknown name or a missing folder is a usage error.
 */
export function resolveTemplate(spec: string, cwd: string): Template {
  const isPath = spec.includes("/") || spec.startsWith(".") || spec.startsWith("~");
  if (!isPath) {
    const names = builtInTemplates();
    if (!names.includes(spec)) {
      throw new TempestError("E_USAGE", `unknown template \`${spec}\``, {
        hint: `${didYouMean(spec, names) ? `${didYouMean(spec, names)} ` : ""}built-in templates: ${names.join(", ")}; or give the path of a template folder, e.g. ./my-template`,
      });
    }
    return { name: spec, builtIn: true, files: readTree(assetPath("skeletons", spec)) };
  }
  const dir = spec.startsWith("~/") ? join(homedir(), spec.slice(2)) : isAbsolute(spec) ? spec : resolve(cwd, spec);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TempestError("E_USAGE", `template folder ${spec} does not exist`, { hint: `give a folder holding a Tempest project with placeholders, or a built-in template: ${builtInTemplates().join(", ")}` });
  }
  const files = readTree(dir);
  if (files.length === 0) throw new TempestError("E_USAGE", `template folder ${spec} is empty`, { hint: "a template is a Tempest project with {{project-name}} placeholders" });
  return { name: spec, builtIn: false, files };
}

/** One generator skeleton of skeletons/_generate (e.g. `task.ts.tmpl`). */
export function generatorSkeleton(file: string): string {
  return readFileSync(assetPath("skeletons", "_generate", file), "utf8");
}

/** Every file below `dir`, with `/`-separated relative paths; binary files stay bytes. */
function readTree(dir: string, prefix = ""): TemplateFile[] {
  const out: TemplateFile[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (SKIP.has(name)) continue;
    const abs = join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = statSync(abs);
    if (st.isDirectory()) out.push(...readTree(abs, rel));
    else if (st.isFile()) out.push({ path: rel, data: asText(readFileSync(abs)), mode: st.mode & 0o777 });
  }
  return out;
}

function asText(bytes: Uint8Array): string | Uint8Array {
  if (bytes.includes(0)) return bytes;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return bytes;
  }
}
