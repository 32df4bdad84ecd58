import { isAbsolute, relative } from "node:path";

/**
 * The first frames of an error's stack that point at the user's own files, as
 * `src/tasks/a.ts:12:9` (relative to `cwd` when inside it), `; `-separated, innermost first.
 * Frames of tempest itself (`/$bunfs/…` inside the compiled binary), of node_modules, of
 * `node:` built-ins and native code are skipped: they say nothing about the user's bug.
 * "" when no frame is the user's.
 */
export function userFrames(stack: string | undefined, cwd: string, max = 3): string {
  if (!stack) return "";
  const out: string[] = [];
  for (const line of stack.split("\n")) {
    const m = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!m) continue;
    let file = m[1] as string;
    if (file.startsWith("file://")) file = file.slice("file://".length);
    if (!isAbsolute(file) || file.startsWith("/$bunfs/") || file.includes("/node_modules/")) continue;
    const rel = relative(cwd, file);
    const shown = rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
    out.push(`${shown}:${m[2]}:${m[3]}`);
    if (out.length >= max) break;
  }
  return out.join("; ");
}
