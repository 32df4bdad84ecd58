/** Small project fixtures shared by end-to-end tests. */

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
