/**
 * Names a user chooses for new things. A project name becomes a folder, a member file and part
 * of every executable `tempest build` makes (`<project>-<name>-<version>`); topology and task
 * names appear in graphs, TOML keys, environment variables (`TEMPEST__TOPOLOGY__<NAME>__…`) and,
 * for tasks of a module topology, as JavaScript identifiers.
 */

export const PROJECT_NAME_RULE = "use lowercase letters, digits, - and _, starting with a letter (e.g. my-streams)";
export const IDENT_RULE = "use letters, digits and _, starting with a letter (e.g. enrich_orders)";

/** Why `name` cannot name a project, or undefined when it can. */
export function projectNameProblem(name: string): string | undefined {
  if (name === "") return "the project name is empty";
  if (name.length > 64) return `\`${name}\` is too long for a project name (${name.length} characters, at most 64)`;
  if (!/^[a-z][a-z0-9_-]*$/.test(name) || /[-_]$/.test(name)) return `\`${name}\` is not a valid project name`;
  return undefined;
}

const RESERVED = new Set(
  ("break case catch class const continue debugger default delete do else enum export extends false finally for function if " +
    "import in instanceof new null return super switch this throw true try typeof var void while with yield let static " +
    "implements interface package private protected public await async of arguments eval undefined").split(" "),
);

/** Why `name` cannot name a topology or a task, or undefined when it can. */
export function identNameProblem(name: string, what: "topology" | "task"): string | undefined {
  if (name === "") return `the ${what} name is empty`;
  if (name.length > 64) return `\`${name}\` is too long for a ${what} name (at most 64 characters)`;
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) return `\`${name}\` is not a valid ${what} name`;
  if (RESERVED.has(name)) return `\`${name}\` is a reserved word in JavaScript, so it cannot name a ${what}`;
  return undefined;
}

/** `my-streams` → `my_streams`: the project name as an identifier (the default topology name). */
export function snakeName(projectName: string): string {
  return projectName.replace(/-/g, "_");
}
