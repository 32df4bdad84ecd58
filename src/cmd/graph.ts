import { mkdirSync, writeFileSync } from "node:fs";
import { findTopologyNamed } from "../core/project/find.ts";
import { join } from "node:path";
import { TempestError } from "../core/errors.ts";
import { toMermaid } from "../core/graph/dag.ts";
import { defineTempestCommand, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";

export default defineTempestCommand({
  meta: { name: "graph", description: "Print each topology's DAG as a Mermaid flowchart" },
  args: {
    topology: { type: "positional", required: false, description: "only this topology" },
    ...projectArgs,
    out: { type: "string", description: "write one <topology>.md file per topology into DIR", valueHint: "DIR" },
  },
  async run({ args, rawArgs }) {
    const project = await requireProject({ project: args.project, sets: repeatedFlag(rawArgs, "set") });
    let topologies = project.topologies;
    if (args.topology) {
      topologies = [findTopologyNamed(project.topologies, args.topology)];
    }
    if (args.out) {
      try {
        mkdirSync(args.out, { recursive: true });
        for (const t of topologies) {
          const file = join(args.out, `${t.name}.md`);
          writeFileSync(file, `# ${t.name}\n\n\`\`\`mermaid\n${toMermaid(t.dag)}\`\`\`\n`);
          console.log(file);
        }
      } catch (e) {
        throw new TempestError("E_RUNTIME", `cannot write to ${args.out}: ${(e as Error).message}`, { exitCode: 1, hint: "choose a folder you can write to" });
      }
      return;
    }
    const charts = topologies.map((t) => (topologies.length > 1 ? `%% topology: ${t.name}\n` : "") + toMermaid(t.dag));
    process.stdout.write(charts.join("\n"));
  },
});
