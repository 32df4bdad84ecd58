import type { KeyLocations } from "../config/key-locations.ts";

/**
 * Maps a position inside a `graph = """…"""` value back to the member file. TOML drops the
 * newline right after an opening `"""`, so graph line 1 is then the line after the key.
 */
export function graphLineMapper(text: string, keys: KeyLocations, keyPath: string): (line?: number) => number | undefined {
  const at = keys.get(keyPath);
  if (!at) return () => undefined;
  const keyLine = text.split("\n")[at.line - 1] ?? "";
  const value = keyLine.slice(keyLine.indexOf("=") + 1).trim();
  const startsOnNextLine = value === '"""' || value === "'''";
  return (line) => (line === undefined ? at.line : at.line + line - (startsOnNextLine ? 0 : 1));
}
