import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { findTopologyNamed } from "../../core/project/find.ts";
import { dirname, join, relative } from "node:path";
import { TempestError } from "../../core/errors.ts";
import type { Project, Topology } from "../../core/project/model.ts";
import { EditFailed, IDENT_RULE, addGeneratorSource, addModuleTopology, addTaskToTomlTopology, defaultParent, identNameProblem, renderText } from "../../core/scaffold/index.ts";
import { didYouMean } from "../../core/text/suggest.ts";
import { generatorSkeleton } from "./templates.ts";

export interface Generated {
  /** Files written, relative to the project root. */
  created: string[];
  /** Files changed to register the new thing. */
  edited: string[];
  /** When tempest could not make the edit itself: the file to change and the lines to add. */
  manual?: { file: string; lines: string[] };
}

/**
 * `tempest generate topology <name>`: a topology module with one task, its `[[topology]]` entry
 * in a member file, and a generator source in Runtime.toml so that it runs at once.
 */
export function generateTopology(project: Project, opts: { name: string; member?: string }): Generated {
  checkName(opts.name, "topology");
  const existing = project.topologies.find((t) => t.name === opts.name);
  if (existing) throw new TempestError("E_DUPLICATE", `topology \`${opts.name}\` already exists (${show(project, existing.file)})`, { hint: "choose another name" });
  const member = pickMember(project, opts.member);
  const file = `src/topology/${opts.name}.ts`;
  mustNotExist(project, file);

  const memberText = addModuleTopology(readFileSync(member.file, "utf8"), file);
  const runtimeFile = project.runtimeFile ?? join(project.root, "Runtime.toml");
  const runtimeText = addGeneratorSource(existsSync(runtimeFile) ? readFileSync(runtimeFile, "utf8") : undefined, opts.name);
  write(project, file, renderText(generatorSkeleton("topology.ts.tmpl"), { topology: opts.name }, { file }));
  writeFileSync(member.file, memberText);
  writeFileSync(runtimeFile, runtimeText);
  return { created: [file], edited: [show(project, member.file), show(project, runtimeFile)] };
}

/**
 * `tempest generate task <name>`: the task module and `test/<name>.test.ts` (unless that file
 * exists), registered in its topology after `after` (default: see `defaultParent`; `why` says
 * why it was picked, `warning` when the chosen task may be a sink). A topology in TOML is
 * edited; for a topology module the lines to add are returned.
 */
export function generateTask(project: Project, opts: { name: string; topology?: string; after?: string }): Generated & { topology: string; after: string; why?: string; warning?: string } {
  checkName(opts.name, "task");
  const topology = pickTopology(project, opts.topology);
  const names = topology.tasks.map((t) => t.name);
  if (names.includes(opts.name)) throw new TempestError("E_DUPLICATE", `topology \`${topology.name}\` already has a task \`${opts.name}\``, { hint: "choose another name" });
  let after: string;
  let why: string | undefined;
  let warning: string | undefined;
  if (opts.after === undefined) {
    const choice = defaultParent(topology.dag);
    if (choice.after === null) {
      throw new TempestError("E_USAGE", `topology \`${topology.name}\` has no task with children, and a task without children may return nothing: which one does \`${opts.name}\` follow?`, { hint: `pass --after TASK, one of: ${choice.candidates.join(", ")}` });
    }
    ({ after, why } = choice);
  } else {
    after = opts.after;
    if (!names.includes(after)) {
      throw new TempestError("E_USAGE", `topology \`${topology.name}\` has no task \`${after}\` to put \`${opts.name}\` after`, { hint: didYouMean(after, names) || `its tasks: ${names.join(", ")}` });
    }
    if (!topology.dag.edges.some(([from]) => from === after)) warning = `${after} has no children yet: if it returns nothing, ${opts.name} never gets a message`;
  }
  const file = `src/tasks/${opts.name}.ts`;
  mustNotExist(project, file);
  const vars = { task: opts.name, topology: topology.name };
  const test = `test/${opts.name}.test.ts`;
  const withTest = !existsSync(join(project.root, test));

  let memberText: string | undefined;
  let manual: Generated["manual"];
  if (topology.kind === "toml") {
    try {
      memberText = addTaskToTomlTopology(readFileSync(topology.file, "utf8"), { topology: topology.name, task: opts.name, type: file, after });
    } catch (e) {
      if (!(e instanceof EditFailed)) throw e;
      manual = { file: show(project, topology.file), lines: [`[[topology.task]]`, `name = "${opts.name}"`, `type = "${file}"`, `and in its graph: ${after} --> ${opts.name};`] };
    }
  } else {
    let spec = relative(dirname(topology.file), join(project.root, file));
    if (!spec.startsWith(".")) spec = `./${spec}`;
    manual = {
      file: show(project, topology.file),
      lines: [`import ${opts.name} from "${spec}";`, `tasks: { ${[...names, opts.name].join(", ")} },`, `graph: "… ${after} --> ${opts.name};",`],
    };
  }
  write(project, file, renderText(generatorSkeleton("task.ts.tmpl"), vars, { file }));
  const created = [file];
  if (withTest) {
    write(project, test, renderText(generatorSkeleton("task.test.ts.tmpl"), vars, { file: test }));
    created.push(test);
  }
  if (memberText !== undefined) writeFileSync(topology.file, memberText);
  return { created, edited: memberText !== undefined ? [show(project, topology.file)] : [], manual, topology: topology.name, after, why, warning };
}

function checkName(name: string, what: "topology" | "task"): void {
  const problem = identNameProblem(name, what);
  if (problem) throw new TempestError("E_USAGE", problem, { hint: IDENT_RULE });
}

function pickTopology(project: Project, name: string | undefined): Topology {
  const names = project.topologies.map((t) => t.name);
  if (name === undefined) {
    if (project.topologies.length === 1) return project.topologies[0] as Topology;
    throw new TempestError("E_USAGE", `the project has ${names.length} topologies: which one gets the task?`, { hint: names.length ? `pass --topology, one of: ${names.join(", ")}` : "add a topology first: tempest generate topology <name>" });
  }
  return findTopologyNamed(project.topologies, name);
}

function pickMember(project: Project, name: string | undefined): Project["members"][number] {
  const names = project.members.map((m) => m.name);
  if (name === undefined) {
    if (project.members.length === 1) return project.members[0] as Project["members"][number];
    throw new TempestError("E_USAGE", `the project has ${names.length} members: which one gets the topology?`, { hint: `pass --member, one of: ${names.join(", ")}` });
  }
  const m = project.members.find((x) => x.name === name);
  if (!m) throw new TempestError("E_USAGE", `no member named \`${name}\``, { hint: didYouMean(name, names) || `members: ${names.join(", ")}` });
  return m;
}

function mustNotExist(project: Project, file: string): void {
  if (existsSync(join(project.root, file))) throw new TempestError("E_USAGE", `${file} already exists`, { hint: "choose another name, or remove the file first" });
}

function write(project: Project, file: string, text: string): void {
  const abs = join(project.root, file);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, text);
}

function show(project: Project, abs: string): string {
  return relative(project.root, abs) || abs;
}
