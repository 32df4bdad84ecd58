/**
 * smol-toml gives values, not positions. This scanner walks the text once and records the line
 * and column of every key and table header, so a schema error can name `file:line:col`.
 * Paths are dotted, arrays of tables are indexed: `topology.1.task.0.type`.
 * Good enough for hand-written config: bare/quoted keys, dotted keys, [table], [[array]],
 * multi-line strings skipped. Inline tables are located at their key.
 */
export type KeyLocations = Map<string, { line: number; col: number }>;

export function locateKeys(text: string): KeyLocations {
  const out: KeyLocations = new Map();
  const arrayCounts = new Map<string, number>();
  let table: string[] = [];
  const lines = text.split("\n");
  let inMultiline: string | null = null;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (inMultiline) {
      if (line.includes(inMultiline)) inMultiline = null;
      continue;
    }
    const trimmed = line.trimStart();
    const col = line.length - trimmed.length + 1;
    if (trimmed === "" || trimmed.startsWith("#")) continue;

    const header = /^(\[\[?)\s*([^\]]+?)\s*\]\]?/.exec(trimmed);
    if (header) {
      const path = splitKey(header[2] ?? "");
      table = resolveTablePath(path, arrayCounts, header[1] === "[[");
      record(out, table.join("."), i + 1, col);
      continue;
    }

    const eq = findEquals(trimmed);
    if (eq < 0) continue;
    const keyPath = [...table, ...splitKey(trimmed.slice(0, eq))];
    record(out, keyPath.join("."), i + 1, col);
    const value = trimmed.slice(eq + 1).trimStart();
    for (const delim of ['"""', "'''"]) {
      if (value.startsWith(delim) && !value.slice(3).includes(delim)) inMultiline = delim;
    }
  }
  return out;
}

function record(out: KeyLocations, key: string, line: number, col: number): void {
  if (!out.has(key)) out.set(key, { line, col });
}

/** `[[topology.task]]` inside the 2nd `[[topology]]` → topology.1.task.N; counts are per resolved path. */
function resolveTablePath(path: string[], counts: Map<string, number>, isArray: boolean): string[] {
  const out: string[] = [];
  path.forEach((segment, i) => {
    out.push(segment);
    const key = out.join(".");
    if (isArray && i === path.length - 1) {
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      out.push(String(n - 1));
    } else if (counts.has(key)) {
      out.push(String((counts.get(key) ?? 1) - 1));
    }
  });
  return out;
}

function splitKey(raw: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < raw.length && (m = re.exec(raw))) parts.push(m[1] ?? m[2] ?? m[3] ?? "");
  return parts;
}

function findEquals(s: string): number {
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "=") return i;
  }
  return -1;
}
