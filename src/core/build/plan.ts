import { toMermaid } from "../graph/dag.ts";
import type { Project, TaskInfo, Topology } from "../project/model.ts";

/**
 * What `tempest build` makes (DESIGN.md §1): one executable per topology and per task, named
 * `<project>-<name>-<version>` after the member that declares them. A task whose name is also a
 * topology's, or another topology's task in the same member, is named `<topology>.<task>` to
 * stay unique. All of them are the same compiled file: it picks its role from its own name.
 */
export type ExecutableRole = { role: "topology"; topology: string } | { role: "task"; topology: string; task: string };

export type PlannedExecutable = ExecutableRole & { file: string; member: string; version: string };

/** What a built executable carries instead of the project's files (see src/built/runtime.ts). */
export interface EmbeddedProject {
  format: 1;
  project: string;
  version: string;
  tempestVersion: string;
  /** Runtime.toml as it was at build time; environment and --set overrides still apply at start. */
  runtime?: { file: string; text: string };
  /** Topologies without their runtime; task `module`s are keys of the bundled module table. */
  topologies: Array<Omit<Topology, "runtime">>;
  executables: Record<string, ExecutableRole>;
}

export interface Manifest {
  format: 1;
  project: string;
  version: string;
  tempest_version: string;
  built_at: string;
  platform: string;
  topologies: Array<{ name: string; member: string; version: string; executable: string; chart: string; graph: string; edges: Array<[string, string]>; tasks: string[] }>;
  /** `isolate`: the task runs in processes of its own, not in a fused worker (core/project/workers.ts). */
  tasks: Array<{ name: string; topology: string; executable: string; join: TaskInfo["join"]; workers: number; isolate?: boolean }>;
  /** Every other file of the build folder, with its sha256 (hex) and size in bytes. */
  files: Record<string, { sha256: string; size: number }>;
}

/** Characters a file name may safely carry; others become `-`. */
export function fileSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "x";
}

/** The version of a member's executables: the member file's, else package.json's, else 0.0.0. */
export function memberVersion(project: Project, member: string, packageVersion: string | undefined): string {
  return project.members.find((m) => m.name === member)?.version ?? packageVersion ?? "0.0.0";
}

export function planExecutables(project: Project, packageVersion?: string): PlannedExecutable[] {
  const out: PlannedExecutable[] = [];
  for (const t of project.topologies) {
    const version = memberVersion(project, t.member, packageVersion);
    const name = (n: string) => `${fileSafe(t.member)}-${fileSafe(n)}-${fileSafe(version)}`;
    out.push({ role: "topology", topology: t.name, file: name(t.name), member: t.member, version });
    const siblings = project.topologies.filter((x) => x.member === t.member);
    for (const task of t.dag.tasks) {
      const clash = siblings.some((x) => x.name === task || (x !== t && x.dag.tasks.includes(task)));
      out.push({ role: "task", topology: t.name, task, file: name(clash ? `${t.name}.${task}` : task), member: t.member, version });
    }
  }
  return out;
}

/** The manifest's description of the project, without the file hashes. */
export function describeBuild(project: Project, plan: PlannedExecutable[], meta: { tempestVersion: string; builtAt: string; platform: string }): Omit<Manifest, "files"> {
  const first = plan[0];
  const exe = (topology: string, task?: string) => plan.find((p) => p.topology === topology && (task === undefined ? p.role === "topology" : p.role === "task" && p.task === task))?.file ?? "";
  return {
    format: 1,
    project: first?.member ?? project.members[0]?.name ?? "",
    version: first?.version ?? "0.0.0",
    tempest_version: meta.tempestVersion,
    built_at: meta.builtAt,
    platform: meta.platform,
    topologies: project.topologies.map((t) => ({
      name: t.name,
      member: t.member,
      version: plan.find((p) => p.topology === t.name)?.version ?? "0.0.0",
      executable: exe(t.name),
      chart: chartFile(t.name),
      graph: toMermaid(t.dag),
      edges: t.dag.edges,
      tasks: t.dag.tasks,
    })),
    tasks: project.topologies.flatMap((t) => t.dag.tasks.map((task) => ({
      name: task,
      topology: t.name,
      executable: exe(t.name, task),
      join: t.tasks.find((x) => x.name === task)?.join ?? "union",
      workers: t.runtime.task[task]?.workers ?? 1,
      ...(t.runtime.task[task]?.isolate ? { isolate: true } : {}),
    }))),
  };
}

export function chartFile(topology: string): string {
  return `${fileSafe(topology)}.md`;
}

export function chartText(topology: Topology): string {
  return `# ${topology.name}\n\n\`\`\`mermaid\n${toMermaid(topology.dag)}\`\`\`\n`;
}

/**
 * The entry module of a build: the embedded runtime, a table of the user's modules (imported
 * lazily, so each executable evaluates only what its role needs) and the project description.
 */
export function entrySource(embedded: EmbeddedProject, modules: Record<string, string>, runtimeSpecifier = "./runtime.js"): string {
  const table = Object.entries(modules).map(([key, abs]) => `  ${JSON.stringify(key)}: () => import(${JSON.stringify(abs)}),`).join("\n");
  return `// Generated by \`tempest build\`.
import { main } from ${JSON.stringify(runtimeSpecifier)};

const modules = {
${table}
};

await main(${JSON.stringify(embedded, null, 2)}, modules);
`;
}
