import { parseToml } from "../config/toml.ts";
import type { Dag } from "../graph/dag.ts";
import { parseGraph } from "../graph/parse.ts";

/**
 * The edits `tempest generate` makes to a user's TOML files, as pure text transformations that
 * keep the user's formatting and comments. Each edit checks its own result by parsing it again;
 * when the file is shaped in a way the edit does not understand it throws `EditFailed`, and the
 * caller prints the lines to add by hand instead.
 */
export class EditFailed extends Error {
  override readonly name = "EditFailed";
}

/** Adds `[[topology]] mod = "…"` at the end of a member file. */
export function addModuleTopology(memberText: string, modPath: string): string {
  const out = `${withBlankLine(memberText)}[[topology]]\nmod = "${modPath}"\n`;
  const parsed = parseToml("member", out);
  const list = parsed.ok ? (parsed.doc.data.topology as Array<Record<string, unknown>> | undefined) : undefined;
  if (!list || list.at(-1)?.mod !== modPath) throw new EditFailed("the member file did not take the new [[topology]] entry");
  return out;
}

/** Appends a `[topology.<name>.source]` table (a generator, so the new topology runs at once). */
export function addGeneratorSource(runtimeText: string | undefined, topology: string, count = 100): string {
  const block = `[topology.${topology}.source]\ntype = "generator"   # { seq, data } messages; change it to your source (file, stdin, redis-stream)\ncount = ${count}\n`;
  const out = runtimeText === undefined || runtimeText.trim() === "" ? block : `${withBlankLine(runtimeText)}${block}`;
  const parsed = parseToml("Runtime.toml", out);
  const src = parsed.ok ? ((parsed.doc.data.topology as Record<string, { source?: { type?: string } }> | undefined)?.[topology]?.source) : undefined;
  if (src?.type !== "generator") throw new EditFailed("Runtime.toml did not take the new source table");
  return out;
}

/** Where a new task goes without `--after`, and why; or, when no place is known, the candidates. */
export type ParentChoice = { after: string; why: string } | { after: null; candidates: string[] };

/**
 * The task a new task is attached after by default: the last task (in the order they are
 * declared) that has children. Whether a task returns anything is only known by running it, so
 * the graph decides: a task with children sends messages on (or its children would never
 * run), while a task without children may be a sink that returns nothing, and a task wired after
 * it would never get a message. With no task that has children there is no safe guess.
 */
export function defaultParent(dag: Dag): ParentChoice {
  const parents = new Set(dag.edges.map(([from]) => from));
  const after = dag.tasks.filter((t) => parents.has(t)).at(-1);
  if (after === undefined) return { after: null, candidates: [...dag.tasks] };
  const leaves = dag.tasks.filter((t) => !parents.has(t));
  const children = dag.edges.filter(([from]) => from === after).map(([, to]) => to);
  return {
    after,
    why: `${after} is the last task with children (${children.join(", ")}), so it sends messages; ${leaves.join(", ")} ${leaves.length === 1 ? "has" : "have"} none and may return nothing`,
  };
}

/**
 * Adds a `[[topology.task]]` entry to the TOML-defined topology `topology` of a member file and
 * the edge `after --> task` to its graph.
 */
export function addTaskToTomlTopology(memberText: string, opts: { topology: string; task: string; type: string; after: string }): string {
  const parsed = parseToml("member", memberText);
  if (!parsed.ok) throw new EditFailed("the member file does not parse");
  const list = (parsed.doc.data.topology ?? []) as Array<Record<string, unknown>>;
  const index = list.findIndex((t) => t.name === opts.topology);
  const before = list[index];
  if (!before || typeof before.graph !== "string") throw new EditFailed(`no TOML topology \`${opts.topology}\` with a graph`);
  const keys = parsed.doc.keys;
  const lines = memberText.split("\n");
  const edge = `${opts.after} --> ${opts.task}`;

  // 1. The graph: one more statement before the closing delimiter.
  const graphAt = keys.get(`topology.${index}.graph`);
  if (!graphAt) throw new EditFailed("cannot find the graph key");
  const lineStart = offsetOfLine(memberText, graphAt.line);
  const eq = memberText.indexOf("=", lineStart + graphAt.col - 1);
  let open = eq + 1;
  while (memberText[open] === " " || memberText[open] === "\t") open++;
  const delim = ['"""', "'''", '"', "'"].find((d) => memberText.startsWith(d, open));
  if (!delim) throw new EditFailed("the graph is not a string");
  const close = findClosing(memberText, open + delim.length, delim);
  if (close < 0) throw new EditFailed("the graph string does not end");
  const content = memberText.slice(open + delim.length, close);
  let insertion: string;
  let at = close;
  if (delim.length === 3 && /\n[ \t]*$/.test(content)) {
    // The closing """ sits on its own line: add a line in the style of the last statement.
    const lastLine = content.trimEnd().split("\n").at(-1) ?? "";
    const indent = /^[ \t]*/.exec(lastLine)?.[0] ?? "    ";
    const semi = /;\s*$/.test(lastLine) || lastLine.trim() === "" ? ";" : "";
    at = close - (/[ \t]*$/.exec(content)?.[0].length ?? 0);
    insertion = `${indent}${edge}${semi}\n`;
  } else {
    const trimmed = content.trimEnd();
    at = open + delim.length + trimmed.length;
    insertion = trimmed === "" ? `${edge};` : trimmed.endsWith(";") ? ` ${edge};` : `; ${edge}`;
  }
  let out = memberText.slice(0, at) + insertion + memberText.slice(at);

  // 2. The task entry: after this topology's last line, before the next [[topology]].
  const delta = insertion.split("\n").length - 1;
  const next = keys.get(`topology.${index + 1}`);
  const outLines = out.split("\n");
  // `end`: the 1-based line of the next [[topology]] header (or one past the end), moved up over
  // the blank lines and comments just above it.
  let end = next ? next.line + delta : outLines.length + 1;
  while (end > 1 && /^\s*(#.*)?$/.test(outLines[end - 2] ?? "")) end--;
  const firstTask = keys.get(`topology.${index}.task.0`);
  const indent = firstTask ? /^[ \t]*/.exec(lines[firstTask.line - 1] ?? "")?.[0] ?? "" : "  ";
  const block = [``, `${indent}[[topology.task]]`, `${indent}name = "${opts.task}"`, `${indent}type = "${opts.type}"`];
  outLines.splice(end - 1, 0, ...block);
  out = outLines.join("\n");
  if (!out.endsWith("\n")) out += "\n";

  // 3. Check: the same topology, one more task, one more edge.
  const check = parseToml("member", out);
  const after = check.ok ? ((check.doc.data.topology ?? []) as Array<Record<string, unknown>>)[index] : undefined;
  const tasks = (after?.task ?? []) as Array<Record<string, unknown>>;
  const beforeTasks = (before.task ?? []) as Array<Record<string, unknown>>;
  const edges = (g: unknown) => (typeof g === "string" ? parseGraph(g).edges.map((e) => `${e.from}-->${e.to}`) : []);
  const ok = after?.name === opts.topology &&
    tasks.length === beforeTasks.length + 1 && tasks.at(-1)?.name === opts.task && tasks.at(-1)?.type === opts.type &&
    JSON.stringify(edges(after.graph)) === JSON.stringify([...edges(before.graph), `${opts.after}-->${opts.task}`]) &&
    parseGraph(after.graph as string).errors.length === 0;
  if (!ok) throw new EditFailed("the edited member file does not read back as expected");
  return out;
}

function withBlankLine(text: string): string {
  const t = text.replace(/\s*$/, "");
  return t === "" ? "" : `${t}\n\n`;
}

function offsetOfLine(text: string, line: number): number {
  let at = 0;
  for (let i = 1; i < line; i++) at = text.indexOf("\n", at) + 1;
  return at;
}

/** Where the string opened before `from` closes; basic strings honour backslash escapes. */
function findClosing(text: string, from: number, delim: string): number {
  const basic = delim.startsWith('"');
  for (let i = from; i < text.length; i++) {
    if (basic && text[i] === "\\") {
      i++;
      continue;
    }
    if (delim.length === 1 && text[i] === "\n") return -1;
    if (text.startsWith(delim, i)) {
      // `""""` ends a multi-line string with a quote inside it: the delimiter is the last three.
      let j = i;
      while (delim.length === 3 && text[j + 3] === delim[0]) j++;
      return j;
    }
  }
  return -1;
}
