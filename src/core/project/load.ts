import { existsSync, readFileSync } from "node:fs";
import { resolveTempestHome } from "../tempest-home.ts";
import { dirname, join, relative, resolve } from "node:path";
import type { Problem } from "../errors.ts";
import { parseToml, type TomlDocument, locator } from "../config/toml.ts";
import { checkValue, type Located } from "../config/schema.ts";
import { memberFileSchema, projectFileSchema } from "../config/project-schema.ts";
import { runtimeSchema } from "../config/runtime-schema.ts";
import { parseGraph } from "../graph/parse.ts";
import { validateDag } from "../graph/dag.ts";
import { didYouMean } from "../text/suggest.ts";
import { graphLineMapper } from "./graph-positions.ts";
import { importUserModule, selectExport } from "./modules.ts";
import { applyOverrides, overridesFromEnv, overridesFromFlags } from "./overrides.ts";
import { resolveStats, resolveTopologyRuntime } from "./runtime.ts";
import type { Join, Member, Project, TaskInfo, Topology, TopologyRuntime } from "./model.ts";

export interface LoadOptions {
  /** The project root: the folder of Project.toml. */
  dir: string;
  env?: Record<string, string | undefined>;
  /** `--set a.b.c=value` flags, in order. */
  sets?: string[];
  /** Import the task modules of TOML topologies (check does; a task process needs only its own). */
  importTasks?: boolean;
}

export interface LoadResult {
  /** Present when nothing is wrong (warnings allowed). */
  project?: Project;
  problems: Problem[];
}

type TopologyDraft = Omit<Topology, "runtime"> & { where: { file: string; line?: number; col?: number } };

/**
 * Loads Project.toml, every member file, every topology (module or TOML DAG), Runtime.toml and
 * the overrides, collecting every problem rather than stopping at the first one.
 */
export async function loadProject(opts: LoadOptions): Promise<LoadResult> {
  const root = resolve(opts.dir);
  const projectFile = join(root, "Project.toml");
  const problems: Problem[] = [];
  const show = (abs: string) => relative(process.cwd(), abs) || abs;

  const projectDoc = readTomlFile(projectFile, show, problems, "no Project.toml in this folder", "run `tempest new <dir>` to start a project, or pass --project DIR");
  if (!projectDoc) return { problems };
  problems.push(...checkValue(projectDoc.data, projectFileSchema, [], locator(projectDoc)));
  const memberPaths = ((projectDoc.data.project as { members?: unknown } | undefined)?.members ?? []) as unknown[];
  if (!Array.isArray(memberPaths) || memberPaths.length === 0) {
    problems.push({ ...locator(projectDoc).at(["project"]), code: "E_PROJECT_MEMBER", severity: "error", message: "Project.toml lists no members", hint: 'add `members = ["projects/<name>.toml"]` under [project]' });
  }

  const members: Member[] = [];
  const drafts: TopologyDraft[] = [];
  const moduleCache = new Map<string, Promise<Awaited<ReturnType<typeof importUserModule>>>>();
  const importOnce = (file: string) => {
    let p = moduleCache.get(file);
    if (!p) moduleCache.set(file, (p = importUserModule(file)));
    return p;
  };

  // Topologies that failed to load: their names are unknown, so Runtime.toml naming them is not a second error.
  let unloaded = 0;
  for (const [i, m] of memberPaths.entries()) {
    if (typeof m !== "string") continue;
    const memberFile = resolve(root, m);
    if (!existsSync(memberFile)) {
      problems.push({ ...locator(projectDoc).at(["project", "members"]), code: "E_PROJECT_MEMBER", severity: "error", message: `member \`${m}\` does not exist`, hint: `create ${m} or remove it from members (paths are relative to Project.toml)` });
      continue;
    }
    const doc = readTomlFile(memberFile, show, problems);
    if (!doc) continue;
    void i;
    const loc = locator(doc);
    const schemaProblems = checkValue(doc.data, memberFileSchema, [], loc);
    problems.push(...schemaProblems);
    const meta = (doc.data.project ?? {}) as Record<string, unknown>;
    if (typeof meta.name !== "string") {
      problems.push({ ...loc.at(["project"]), code: "E_CONFIG_INVALID", severity: "error", message: "`project.name` is missing", hint: 'add `name = "my-streams"` under [project]' });
    }
    const member: Member = {
      file: memberFile,
      name: typeof meta.name === "string" ? meta.name : m,
      description: typeof meta.description === "string" ? meta.description : undefined,
      version: typeof meta.version === "string" ? meta.version : undefined,
    };
    members.push(member);
    if (schemaProblems.length) continue;
    const decls = (doc.data.topology ?? []) as Array<Record<string, unknown>>;
    if (decls.length === 0) {
      problems.push({ ...loc.at(["project"]), code: "E_CONFIG_INVALID", severity: "warning", message: "this member defines no topology", hint: "add a [[topology]] entry" });
    }
    for (const [t, decl] of decls.entries()) {
      const draft = decl.mod !== undefined
        ? await loadModuleTopology(root, member, doc, t, decl, importOnce, problems, show)
        : await loadTomlTopology(root, member, doc, t, decl, opts.importTasks ?? true, importOnce, problems, show);
      if (draft) drafts.push(draft);
      else unloaded++;
    }
  }

  const seen = new Map<string, TopologyDraft>();
  for (const d of drafts) {
    const first = seen.get(d.name);
    if (first) {
      problems.push({ ...d.where, code: "E_DUPLICATE", severity: "error", message: `topology \`${d.name}\` is defined twice (also in ${show(first.where.file)}${first.where.line ? `:${first.where.line}` : ""})`, hint: "topology names are unique in a project: rename one" });
    } else seen.set(d.name, d);
  }

  // Runtime.toml, then environment, then --set: later layers win.
  const runtimeFile = join(root, "Runtime.toml");
  const runtimeText = existsSync(runtimeFile) ? readFileSync(runtimeFile, "utf8") : undefined;
  const layered = layerRuntime({
    root,
    runtime: runtimeText !== undefined ? { file: show(runtimeFile), text: runtimeText } : undefined,
    topologies: [...seen.values()].map((d) => ({ name: d.name, tasks: d.tasks.map((t) => t.name) })),
    env: opts.env,
    sets: opts.sets,
    incomplete: unloaded > 0,
  });
  problems.push(...layered.problems);
  const topologies: Topology[] = [];
  for (const d of seen.values()) {
    const { where: _where, ...topology } = d;
    topologies.push({ ...topology, runtime: layered.runtimes.get(d.name) as TopologyRuntime });
  }
  if (problems.some((p) => p.severity === "error")) return { problems };
  return {
    problems,
    project: { root, projectFile, runtimeFile: layered.fromFile ? runtimeFile : undefined, tempestHome: layered.tempestHome, members, topologies },
  };
}

export interface LayerRuntimeOptions {
  /** Relative paths in the config (file source, dead letters) resolve against this folder. */
  root: string;
  /** Runtime.toml: the name to show in problems and its text; absent means no file. */
  runtime?: { file: string; text: string };
  /** The topologies and their task names, which Runtime.toml and the overrides may name. */
  topologies: Array<{ name: string; tasks: string[] }>;
  env?: Record<string, string | undefined>;
  sets?: string[];
  /** Some topology failed to load (its own problem says why): do not also call its name unknown. */
  incomplete?: boolean;
}

/**
 * The runtime layering of DESIGN.md §3: built-in defaults < Runtime.toml < `TEMPEST__…`
 * environment variables < `--set` flags, each value checked. Shared by `loadProject` and the
 * executables `tempest build` makes (which carry the Runtime.toml text they were built with).
 */
export function layerRuntime(opts: LayerRuntimeOptions): { runtimes: Map<string, TopologyRuntime>; tempestHome: string; fromFile: boolean; problems: Problem[] } {
  const problems: Problem[] = [];
  const byName = new Map(opts.topologies.map((t) => [t.name, t.tasks]));
  let runtimeData: Record<string, unknown> = {};
  let runtimeLoc: Located | undefined;
  if (opts.runtime) {
    const parsed = parseToml(opts.runtime.file, opts.runtime.text);
    if (!parsed.ok) problems.push(parsed.problem);
    else {
      runtimeLoc = locator(parsed.doc);
      const schemaProblems = checkValue(parsed.doc.data, runtimeSchema, [], runtimeLoc);
      problems.push(...schemaProblems);
      if (schemaProblems.length === 0) runtimeData = parsed.doc.data;
    }
  }
  const names = (eachName: string, path: string[]): string[] => {
    if (eachName === "topology") return [...byName.keys()];
    if (eachName === "task") return byName.get(path[1] ?? "") ?? [];
    return [];
  };
  if (runtimeLoc) problems.push(...checkRuntimeNames(runtimeData, runtimeLoc, names, opts.incomplete ?? false));
  const flags = overridesFromFlags(opts.sets ?? []);
  problems.push(...flags.problems);
  problems.push(...applyOverrides(runtimeData, [...overridesFromEnv(opts.env ?? {}), ...flags.overrides], runtimeSchema, names));

  const runtimes = new Map<string, TopologyRuntime>();
  const stats = resolveStats((runtimeData.stats ?? {}) as { statsd?: string; prefix?: string }, runtimeLoc ? runtimeLoc.file : "Runtime.toml", (key) => runtimeLoc?.locate(["stats", key]) ?? {});
  problems.push(...stats.problems);
  for (const [name, tasks] of byName) {
    const raw = ((runtimeData.topology as Record<string, unknown> | undefined)?.[name] ?? {}) as Record<string, unknown>;
    const r = resolveTopologyRuntime(opts.root, name, tasks, raw, {
      file: runtimeLoc ? runtimeLoc.file : "Runtime.toml",
      locate: (p) => runtimeLoc?.locate(["topology", name, ...p]) ?? {},
    }, opts.env ?? {});
    problems.push(...r.problems);
    runtimes.set(name, { ...r.runtime, stats: stats.stats });
  }
  const projectMeta = (runtimeData.project ?? {}) as { tempest_home?: string };
  const tempestHome = resolveTempestHome(projectMeta.tempest_home, opts.env ?? {});
  return { runtimes, tempestHome, fromFile: runtimeLoc !== undefined, problems };
}

function readTomlFile(file: string, show: (f: string) => string, problems: Problem[], missing?: string, hint?: string): TomlDocument | undefined {
  if (!existsSync(file)) {
    problems.push({ file: show(file), code: "E_PROJECT_MEMBER", severity: "error", message: missing ?? "file not found", hint: hint ?? "check the path" });
    return undefined;
  }
  const parsed = parseToml(show(file), readFileSync(file, "utf8"));
  if (!parsed.ok) {
    problems.push(parsed.problem);
    return undefined;
  }
  return parsed.doc;
}


type ImportOnce = (file: string) => ReturnType<typeof importUserModule>;

async function loadModuleTopology(
  root: string, member: Member, doc: TomlDocument, t: number, decl: Record<string, unknown>,
  importOnce: ImportOnce, problems: Problem[], show: (f: string) => string,
): Promise<TopologyDraft | undefined> {
  const loc = locator(doc);
  const where = loc.at(["topology", String(t), "mod"]);
  for (const k of ["name", "graph", "task"]) {
    if (decl[k] !== undefined) {
      problems.push({ ...loc.at(["topology", String(t), k]), code: "E_CONFIG_INVALID", severity: "error", message: `a [[topology]] with \`mod\` cannot also set \`${k}\``, hint: "define the topology either in its module (mod) or in this file (name, graph, [[topology.task]])" });
      return undefined;
    }
  }
  const file = resolve(root, decl.mod as string);
  const imported = await importOnce(file);
  if (!imported.ok) {
    problems.push(imported.missing
      ? { ...where, code: "E_MODULE_LOAD", severity: "error", message: `\`mod\` names ${decl.mod as string}, which does not exist`, hint: imported.problem.hint }
      : { ...imported.problem, file: show(imported.problem.file) });
    return undefined;
  }
  const def = imported.ns.default as Record<string, unknown> | undefined;
  const shown = show(file);
  // A module's shape problems point at its default export (or its defineTopology call).
  const at = sourcePosition(file, [/^export default\b/m, /\bdefineTopology\s*\(/]);
  const shapeProblem = (message: string, hint: string) => problems.push({ file: shown, ...at, code: "E_MODULE_SHAPE", severity: "error", message, hint });
  if (typeof def !== "object" || def === null || def.kind !== "tempest.topology") {
    shapeProblem(def === undefined ? "the module has no default export" : "the default export is not a topology", 'end the module with `export default defineTopology({ name, tasks, graph })` (import { defineTopology } from "tempest")');
    return undefined;
  }
  if (typeof def.name !== "string" || def.name === "") return void shapeProblem("the topology has no `name`", 'give it one: defineTopology({ name: "wordcount", … })');
  if (typeof def.graph !== "string") return void shapeProblem(`topology \`${def.name}\` has no \`graph\` string`, 'e.g. graph: "split --> count;"');
  const tasksObj = def.tasks;
  if (typeof tasksObj !== "object" || tasksObj === null) return void shapeProblem(`topology \`${def.name}\` has no \`tasks\``, "pass tasks: { split, count } with values made by defineTask");
  const tasks: TaskInfo[] = [];
  for (const [name, task] of Object.entries(tasksObj as Record<string, unknown>)) {
    const td = task as Record<string, unknown> | null;
    if (typeof td !== "object" || td === null || td.kind !== "tempest.task" || typeof td.handle !== "function") {
      shapeProblem(`tasks.${name} of topology \`${def.name}\` is not a task`, "make it with defineTask({ handle(msg, ctx) { … } })");
      continue;
    }
    tasks.push({ name, join: (td.join as Join) ?? "union", concurrency: td.concurrency as number | undefined, module: file, select: ["default", "tasks", name] });
  }
  const graph = parseGraph(def.graph);
  const { dag, problems: dagProblems } = validateDag(tasks.map((x) => x.name), graph);
  const graphAt = sourcePosition(file, [/\bgraph\s*:/, /^export default\b/m]);
  for (const p of dagProblems) {
    problems.push({ file: shown, ...graphAt, code: p.code, severity: p.severity, message: `topology \`${def.name}\`: ${p.message}`, hint: p.hint });
  }
  return { name: def.name, member: member.name, file, kind: "module", graph: def.graph, dag, tasks, where: { file: shown } };
}

async function loadTomlTopology(
  root: string, member: Member, doc: TomlDocument, t: number, decl: Record<string, unknown>, importTasks: boolean,
  importOnce: ImportOnce, problems: Problem[], show: (f: string) => string,
): Promise<TopologyDraft | undefined> {
  const loc = locator(doc);
  const base = ["topology", String(t)];
  const where = loc.at(base);
  const err = (path: string[], message: string, hint: string, code: Problem["code"] = "E_CONFIG_INVALID") =>
    problems.push({ ...loc.at([...base, ...path]), code, severity: "error", message, hint });
  if (typeof decl.name !== "string") {
    err([], "a [[topology]] needs `mod` or `name`", 'set `mod = "src/topology/x.ts"`, or `name`, `graph` and [[topology.task]] entries');
    return undefined;
  }
  const name = decl.name;
  const decls = (decl.task ?? []) as Array<Record<string, unknown>>;
  if (decls.length === 0) err([], `topology \`${name}\` has no tasks`, "add [[topology.task]] entries with `name` and `type`");
  if (typeof decl.graph !== "string") {
    err([], `topology \`${name}\` has no \`graph\``, 'add e.g. graph = "A --> B;"');
    return undefined;
  }
  const tasks: TaskInfo[] = [];
  const names = new Set<string>();
  for (const [j, td] of decls.entries()) {
    const path = ["task", String(j)];
    if (typeof td.name !== "string") { err(path, "a [[topology.task]] has no `name`", 'add name = "A"'); continue; }
    if (names.has(td.name)) { err([...path, "name"], `task \`${td.name}\` is defined twice in topology \`${name}\``, "task names are unique within a topology", "E_DUPLICATE"); continue; }
    names.add(td.name);
    if (typeof td.type !== "string") { err(path, `task \`${td.name}\` has no \`type\``, 'name its module: type = "src/tasks/a.ts" (add "#Name" for a named export)'); continue; }
    const [modPath = "", exportName] = td.type.split("#");
    const file = resolve(root, modPath);
    const info: TaskInfo = { name: td.name, join: (td.join as Join | undefined) ?? "union", concurrency: td.concurrency as number | undefined, module: file, select: [exportName || "default"] };
    if (importTasks) {
      const imported = await importOnce(file);
      if (!imported.ok) {
        if (imported.missing) err([...path, "type"], `task \`${td.name}\`: type ${td.type} does not resolve to a file`, "check the path; it is relative to the project root", "E_MODULE_LOAD");
        else problems.push({ ...imported.problem, file: show(imported.problem.file) });
        continue;
      }
      const def = selectExport(imported.ns, info.select) as Record<string, unknown> | undefined;
      if (typeof def !== "object" || def === null || def.kind !== "tempest.task" || typeof def.handle !== "function") {
        const what = exportName ? `export \`${exportName}\`` : "the default export";
        const exports = Object.keys(imported.ns).filter((k) => (imported.ns[k] as { kind?: unknown } | null)?.kind === "tempest.task");
        err([...path, "type"], `task \`${td.name}\`: ${what} of ${modPath} is not a task`,
          def === undefined && exports.length ? `it exports the task(s) ${exports.join(", ")}: write type = "${modPath}#${exports[0]}"` : "define it with defineTask({ handle(msg, ctx) { … } })", "E_MODULE_SHAPE");
        continue;
      }
      if (td.join === undefined && def.join) info.join = def.join as Join;
      if (td.concurrency === undefined && typeof def.concurrency === "number") info.concurrency = def.concurrency;
    }
    tasks.push(info);
  }
  const mapLine = graphLineMapper(doc.text, doc.keys, [...base, "graph"].join("."));
  const { dag, problems: dagProblems } = validateDag([...names], parseGraph(decl.graph));
  for (const p of dagProblems) {
    const at = p.task !== undefined
      ? loc.at([...base, "task", String(decls.findIndex((x) => x.name === p.task)), "name"])
      : { file: doc.file, line: mapLine(p.line), col: p.line !== undefined ? p.col : undefined };
    problems.push({ ...at, code: p.code, severity: p.severity, message: `topology \`${name}\`: ${p.message}`, hint: p.hint });
  }
  return { name, member: member.name, file: resolve(doc.file), kind: "toml", graph: decl.graph, dag, tasks, where };
}

/** Runtime.toml may only configure topologies and tasks that exist. */
function checkRuntimeNames(data: Record<string, unknown>, loc: Located, names: (each: string, path: string[]) => string[], incomplete: boolean): Problem[] {
  const problems: Problem[] = [];
  const topologies = (data.topology ?? {}) as Record<string, Record<string, unknown>>;
  const known = names("topology", []);
  for (const [name, cfg] of Object.entries(topologies)) {
    if (!known.includes(name)) {
      if (incomplete) continue;
      problems.push({ file: loc.file, ...loc.locate(["topology", name]), code: "E_UNKNOWN_TOPOLOGY", severity: "error", message: `[topology.${name}] configures a topology that the project does not define`, hint: didYouMean(name, known) || `known topologies: ${known.join(", ") || "none"}` });
      continue;
    }
    const tasks = names("task", ["topology", name]);
    for (const task of Object.keys((cfg.task ?? {}) as object)) {
      if (!tasks.includes(task)) {
        problems.push({ file: loc.file, ...loc.locate(["topology", name, "task", task]), code: "E_CONFIG_INVALID", severity: "error", message: `[topology.${name}.task.${task}] configures a task that topology \`${name}\` does not have`, hint: didYouMean(task, tasks) || `its tasks: ${tasks.join(", ")}` });
      }
    }
  }
  return problems;
}


/** The folder holding Project.toml: `start` or its nearest ancestor, like cargo. */
export function findProjectRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, "Project.toml"))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Line and column (1-based) of the first pattern found in a source file; line 1 col 1 else. */
function sourcePosition(file: string, patterns: RegExp[]): { line: number; col: number } {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { line: 1, col: 1 };
  }
  for (const re of patterns) {
    const m = re.exec(text);
    if (!m) continue;
    const before = text.slice(0, m.index);
    const line = before.split("\n").length;
    return { line, col: m.index - before.lastIndexOf("\n") };
  }
  return { line: 1, col: 1 };
}
