import { relative } from "node:path";
import { TempestError, formatProblem } from "../core/errors.ts";
import { defineTempestCommand, repeatedFlag } from "./_command.ts";
import { loadProjectFor, projectArgs } from "./_project.ts";

export default defineTempestCommand({
  meta: { name: "check", description: "Load and validate the project: TOML, modules, graphs, runtime config" },
  args: { ...projectArgs, json: { type: "boolean", description: "print the result as JSON" } },
  async run({ args, rawArgs }) {
    const { project, problems } = await loadProjectFor({ project: args.project, sets: repeatedFlag(rawArgs, "set") });
    const errors = problems.filter((p) => p.severity === "error");
    const summary = project?.topologies.map((t) => ({
      name: t.name,
      kind: t.kind,
      file: relative(process.cwd(), t.file) || t.file,
      tasks: t.dag.tasks.length,
      edges: t.dag.edges.length,
      source: t.runtime.source?.type ?? null,
      ...(t.runtime.source?.type === "redis-stream" ? { redis: { uri: redactUrl(t.runtime.source.uri), from: t.runtime.source.uriFrom ?? "settings" } } : {}),
    }));
    if (args.json) {
      console.log(JSON.stringify({ ok: errors.length === 0, topologies: summary ?? [], problems }, null, 2));
      if (errors.length) process.exitCode = 2;
      return;
    }
    if (!project || errors.length) throw new TempestError(errors[0]?.code ?? "E_CONFIG_INVALID", `${errors.length} problem(s) found`, { problems });
    for (const w of problems) console.error(formatProblem(w));
    const tasks = project.topologies.reduce((n, t) => n + t.dag.tasks.length, 0);
    const edges = project.topologies.reduce((n, t) => n + t.dag.edges.length, 0);
    const sources = [...new Set(project.topologies.map((t) => t.runtime.source?.type ?? "none"))];
    console.log(`ok: ${plural(project.topologies.length, "topology", "topologies")}, ${plural(tasks, "task")}, ${plural(edges, "edge")}; sources: ${sources.join(", ") || "none"}`);
    for (const t of summary ?? []) {
      console.log(`  ${t.name.padEnd(20)} ${plural(t.tasks, "task").padEnd(9)} ${plural(t.edges, "edge").padEnd(9)} source: ${t.source ?? "none"}${t.redis ? ` at ${t.redis.uri} (from ${t.redis.from})` : ""}  (${t.file})`);
    }
  },
});

/** A password in a URL is a secret: never print it (DESIGN.md §11). */
function redactUrl(uri: string): string {
  return uri.replace(/^(\w+:\/\/[^:@/]*:)[^@/]*@/, "$1***@");
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
