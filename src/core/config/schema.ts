import type { Problem } from "../errors.ts";
import { didYouMean } from "../text/suggest.ts";

/** A tiny schema language: enough to type-check config files and coerce overrides. */
export type Schema =
  | { type: "string" }
  | { type: "integer"; min?: number; max?: number }
  | { type: "number"; min?: number }
  | { type: "boolean" }
  | { type: "enum"; values: readonly string[] }
  | { type: "table"; fields?: Record<string, Schema>; each?: Schema; eachName?: string }
  | { type: "array"; items: Schema; what: string };

export interface Located {
  file: string;
  locate(path: string[]): { line?: number; col?: number };
}

/** Checks `value` against `schema`; every problem names the dotted key and its position. */
export function checkValue(value: unknown, schema: Schema, path: string[], where: Located): Problem[] {
  const at = (p: string[]) => ({ file: where.file, ...where.locate(p) });
  const key = path.join(".");
  if (schema.type === "table") {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return [{ ...at(path), code: "E_CONFIG_INVALID", severity: "error", message: `\`${key}\` must be a table`, hint: `write it as [${key}] with keys below it` }];
    }
    const problems: Problem[] = [];
    for (const [k, v] of Object.entries(value)) {
      const child = schema.fields?.[k] ?? schema.each;
      if (!child) {
        const known = Object.keys(schema.fields ?? {});
        problems.push({
          ...at([...path, k]), code: "E_CONFIG_INVALID", severity: "error",
          message: `unknown key \`${k}\`${key ? ` in [${key}]` : ""}`,
          hint: didYouMean(k, known) || (known.length ? `valid keys here: ${known.join(", ")}` : "remove it"),
        });
        continue;
      }
      problems.push(...checkValue(v, child, [...path, k], where));
    }
    return problems;
  }
  if (schema.type === "array") {
    if (!Array.isArray(value)) {
      return [{ ...at(path), code: "E_CONFIG_INVALID", severity: "error", message: `\`${key}\` must be an array of ${schema.what}`, hint: `e.g. \`${path[path.length - 1]} = [ … ]\`` }];
    }
    return value.flatMap((item, i) => checkValue(item, schema.items, [...path, String(i)], where));
  }
  const wrong = typeMismatch(value, schema);
  return wrong ? [{ ...at(path), code: "E_CONFIG_INVALID", severity: "error", message: `\`${key}\` ${wrong}`, hint: hintFor(schema, path) }] : [];
}

function typeMismatch(value: unknown, schema: Exclude<Schema, { type: "table" } | { type: "array" }>): string | null {
  const shown = typeof value === "string" ? `"${value}"` : JSON.stringify(value);
  switch (schema.type) {
    case "string":
      return typeof value === "string" ? null : `must be a string, got ${shown}`;
    case "boolean":
      return typeof value === "boolean" ? null : `must be true or false, got ${shown}`;
    case "enum":
      return typeof value === "string" && schema.values.includes(value) ? null : `must be one of ${schema.values.map((v) => `"${v}"`).join(", ")}, got ${shown}`;
    case "integer":
    case "number": {
      if (typeof value !== "number" || Number.isNaN(value)) return `must be a number, got ${shown}`;
      if (schema.type === "integer" && !Number.isInteger(value)) return `must be a whole number, got ${shown}`;
      if (schema.min !== undefined && value < schema.min) return `must be at least ${schema.min}, got ${shown}`;
      if (schema.type === "integer" && schema.max !== undefined && value > schema.max) return `must be at most ${schema.max}, got ${shown}`;
      return null;
    }
  }
}

function hintFor(schema: Schema, path: string[]): string {
  const name = path[path.length - 1] ?? "value";
  switch (schema.type) {
    case "integer":
    case "number":
      return `write a number without quotes, e.g. \`${name} = ${schema.min && schema.min > 0 ? schema.min : 5000}\``;
    case "string":
      return `quote it, e.g. \`${name} = "…"\``;
    case "boolean":
      return `write \`${name} = true\` or \`${name} = false\``;
    case "enum":
      return `e.g. \`${name} = "${schema.values[0]}"\``;
    default:
      return "";
  }
}

/** Finds the schema of a dotted path; wildcard (`each`) segments match any name. */
export function schemaAt(schema: Schema, path: string[]): Schema | undefined {
  let s: Schema | undefined = schema;
  for (const seg of path) {
    if (!s || s.type !== "table") return undefined;
    s = s.fields?.[seg] ?? s.each;
  }
  return s;
}

/** Turns an override's text into the type the schema wants: a number stays a number. */
export function coerce(raw: string, schema: Schema): { ok: true; value: unknown } | { ok: false; why: string } {
  switch (schema.type) {
    case "string":
      return { ok: true, value: raw };
    case "boolean":
      if (raw === "true" || raw === "false") return { ok: true, value: raw === "true" };
      return { ok: false, why: `expected true or false, got "${raw}"` };
    case "enum":
      if (schema.values.includes(raw)) return { ok: true, value: raw };
      return { ok: false, why: `expected one of ${schema.values.join(", ")}, got "${raw}"` };
    case "integer":
    case "number": {
      const n = raw.trim() === "" ? NaN : Number(raw);
      if (Number.isNaN(n)) return { ok: false, why: `expected a number, got "${raw}"` };
      const mismatch = typeMismatch(n, schema);
      return mismatch ? { ok: false, why: mismatch.replace(/^must/, "expected it to") } : { ok: true, value: n };
    }
    case "table":
      return { ok: false, why: "names a table, not a value; name one of its keys" };
    case "array":
      return { ok: false, why: "names an array; set it in the file instead" };
  }
}
