import type { Problem } from "../errors.ts";
import { coerce, type Schema } from "../config/schema.ts";
import { didYouMean } from "../text/suggest.ts";

/** One override of a config value, before typing: from the environment or a `--set` flag. */
export interface Override {
  path: string[];
  raw: string;
  /** What the user wrote, for error messages: `TEMPEST__A__B=…` or `--set a.b=…`. */
  origin: string;
}

const ENV_PREFIX = "TEMPEST__";

/** `TEMPEST__TOPOLOGY__X__MESSAGE__TIMEOUT=5000` → topology.x.message.timeout (names matched later). */
export function overridesFromEnv(env: Record<string, string | undefined>): Override[] {
  return Object.entries(env)
    .filter(([k, v]) => k.startsWith(ENV_PREFIX) && v !== undefined)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => ({ path: k.slice(ENV_PREFIX.length).split("__"), raw: v as string, origin: k }));
}

/** `--set a.b.c=value`, repeated; a flag without `=` is a usage problem. */
export function overridesFromFlags(sets: string[]): { overrides: Override[]; problems: Problem[] } {
  const overrides: Override[] = [];
  const problems: Problem[] = [];
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq <= 0) {
      problems.push({
        file: `--set ${s}`, code: "E_USAGE", severity: "error",
        message: eq === 0 ? "the key is missing" : "expected key=value",
        hint: "write it as --set topology.<name>.message.timeout=5000",
      });
      continue;
    }
    overrides.push({ path: s.slice(0, eq).split("."), raw: s.slice(eq + 1), origin: `--set ${s}` });
  }
  return { overrides, problems };
}

/**
 * Writes typed overrides into `data` (the parsed Runtime.toml, mutated). Each path segment is
 * matched to a schema key or a known name, case-insensitively, since environment variable
 * names are upper case. `names` gives the known names for wildcard tables by `eachName`.
 */
export function applyOverrides(
  data: Record<string, unknown>,
  overrides: Override[],
  schema: Schema,
  names: (eachName: string, path: string[]) => string[],
): Problem[] {
  const problems: Problem[] = [];
  for (const o of overrides) {
    const problem = (message: string, hint: string): Problem => ({ file: o.origin, code: "E_CONFIG_INVALID", severity: "error", message, hint });
    const path: string[] = [];
    let s: Schema | undefined = schema;
    let failed = false;
    for (const seg of o.path) {
      if (!s || s.type !== "table") {
        problems.push(problem(`\`${[...path, seg].join(".")}\` goes below a value`, "name a key of a table, e.g. topology.<name>.message.timeout"));
        failed = true;
        break;
      }
      const fields: string[] = Object.keys(s.fields ?? {});
      const field: string | undefined = fields.find((f) => f.toLowerCase() === seg.toLowerCase());
      if (field) {
        path.push(field);
        s = s.fields?.[field];
        continue;
      }
      if (s.each) {
        const known = names(s.eachName ?? "", path);
        const name = known.find((n) => n === seg) ?? known.find((n) => n.toLowerCase() === seg.toLowerCase());
        if (!name) {
          problems.push(problem(`there is no ${s.eachName ?? "entry"} \`${seg}\``, didYouMean(seg, known) || `known: ${known.join(", ") || "none"}`));
          failed = true;
          break;
        }
        path.push(name);
        s = s.each;
        continue;
      }
      problems.push(problem(`unknown key \`${seg}\`${path.length ? ` in ${path.join(".")}` : ""}`, didYouMean(seg, fields) || `valid keys here: ${fields.join(", ")}`));
      failed = true;
      break;
    }
    if (failed || !s) continue;
    const typed = coerce(o.raw, s);
    if (!typed.ok) {
      problems.push(problem(`\`${path.join(".")}\`: ${typed.why}`, numberHint(s)));
      continue;
    }
    setPath(data, path, typed.value);
  }
  return problems;
}

function setPath(data: Record<string, unknown>, path: string[], value: unknown): void {
  let t = data;
  for (const seg of path.slice(0, -1)) {
    const next = t[seg];
    if (typeof next !== "object" || next === null) t[seg] = {};
    t = t[seg] as Record<string, unknown>;
  }
  t[path[path.length - 1] as string] = value;
}

/** What to write instead, for a value that did not fit its schema (no example that could mislead: 5000 workers). */
function numberHint(s: Schema): string {
  if (s.type !== "integer" && s.type !== "number") return "fix the value";
  const at = s.min !== undefined ? ` of at least ${s.min}` : "";
  return s.type === "integer" ? `give a whole number${at}` : `give a number${at}`;
}
