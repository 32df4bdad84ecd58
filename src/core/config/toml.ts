import { parse, TomlError } from "smol-toml";
import type { Problem } from "../errors.ts";
import { locateKeys, type KeyLocations } from "./key-locations.ts";
import type { Located } from "./schema.ts";

export interface TomlDocument {
  file: string;
  text: string;
  data: Record<string, unknown>;
  /** Where each dotted key path (`topology.0.task.1.name`) sits in the text. */
  keys: KeyLocations;
}

export type TomlResult = { ok: true; doc: TomlDocument } | { ok: false; problem: Problem };

/** Parses TOML text; a syntax error becomes one Problem naming the file, line and column. */
export function parseToml(file: string, text: string): TomlResult {
  try {
    const data = parse(text) as Record<string, unknown>;
    return { ok: true, doc: { file, text, data, keys: locateKeys(text) } };
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    return { ok: false, problem: tomlProblem(file, text, e) };
  }
}

function tomlProblem(file: string, text: string, e: TomlError): Problem {
  const raw = e.message.replace(/^Invalid TOML document: /, "").split("\n")[0] ?? "syntax error";
  const lineText = text.split("\n")[e.line - 1] ?? "";
  let message = `invalid TOML: ${raw}`;
  let hint = "see https://toml.io for the syntax";
  if (/control characters are not allowed in strings|unterminated string|unfinished string/i.test(raw) && hasOpenQuote(lineText)) {
    const key = lineText.split("=")[0]?.trim();
    message = `unterminated string${key ? ` in \`${key}\`` : ""}`;
    hint = "close the quote on the same line";
  } else if (/redefine/.test(raw)) {
    hint = "each key and [table] may appear only once in a file";
  } else if (/invalid value/.test(raw)) {
    hint = "give the key a value: a \"string\", a number, true/false, [array] or { table }";
  }
  return { code: "E_TOML_SYNTAX", severity: "error", file, line: e.line, col: e.column, message, hint };
}

function hasOpenQuote(line: string): boolean {
  const value = line.slice(line.indexOf("=") + 1);
  const dq = (value.match(/(?<!\\)"/g) ?? []).length;
  const sq = (value.match(/'/g) ?? []).length;
  return dq % 2 === 1 || sq % 2 === 1;
}

/**
 * Positions for problems in a parsed file: the key itself, else the first key below it (a
 * table may only appear through its sub-tables: [a.b.c] names a.b), else the nearest table above.
 */
export function locator(doc: TomlDocument): Located & { at(path: string[]): { file: string; line?: number; col?: number } } {
  const locate = (path: string[]) => {
    const exact = doc.keys.get(path.join("."));
    if (exact) return exact;
    const prefix = `${path.join(".")}.`;
    for (const [k, at] of doc.keys) if (k.startsWith(prefix)) return at;
    for (let n = path.length - 1; n > 0; n--) {
      const hit = doc.keys.get(path.slice(0, n).join("."));
      if (hit) return hit;
    }
    return {};
  };
  return { file: doc.file, locate, at: (path) => ({ file: doc.file, ...locate(path) }) };
}
