/** Small project fixtures shared by end-to-end tests. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const TASK_PASS = `import { defineTask } from "tempest";
export default defineTask({ handle(msg) { return msg; } });
`;

/** The diamond of DESIGN.md §3 as a DAG in the member file. */
export function diamondFiles(opts: { join?: "union" | "all"; runtime?: string; tasks?: Record<string, string> } = {}): Record<string, string> {
  const task = (name: string) => `  [[topology.task]]\n  name = "${name}"\n  type = "src/tasks/${name.toLowerCase()}.ts"\n${name === "D" && opts.join ? `  join = "${opts.join}"\n` : ""}`;
  return {
    "Project.toml": `[project]\nmembers = ["projects/main.toml"]\n`,
    "projects/main.toml": `[project]\nname = "demo"\n\n[[topology]]\nname = "y"\ngraph = """\n    A --> B;\n    A --> C;\n    B --> D;\n    C --> D;\n"""\n${["A", "B", "C", "D"].map(task).join("\n")}`,
    "src/tasks/a.ts": opts.tasks?.A ?? TASK_PASS,
    "src/tasks/b.ts": opts.tasks?.B ?? TASK_PASS,
    "src/tasks/c.ts": opts.tasks?.C ?? TASK_PASS,
    "src/tasks/d.ts": opts.tasks?.D ?? TASK_PASS,
    ...(opts.runtime !== undefined ? { "Runtime.toml": opts.runtime } : {}),
  };
}

/** A task D that appends every msgId it sees to out/d.txt (a write per call, so a SIGKILL loses nothing written). */
export const D_RECORDS = `import { defineTask } from "tempest";
import { appendFileSync, mkdirSync } from "node:fs";
mkdirSync("out", { recursive: true });
export default defineTask({ handle(msg, ctx) { appendFileSync("out/d.txt", ctx.msgId + "\\n"); } });
`;

/** How many times D_RECORDS saw each id in the project at `dir` (the first word of each line). */
export function idsAtD(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  const file = join(dir, "out/d.txt");
  if (!existsSync(file)) return counts;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const id = line.split(" ")[0];
    if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
