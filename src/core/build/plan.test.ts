import { expect, test } from "bun:test";
import type { Project, Topology } from "../project/model.ts";
import { describeBuild, entrySource, fileSafe, planExecutables, type EmbeddedProject } from "./plan.ts";

const runtime: Topology["runtime"] = { host: "127.0.0.1", port: 0, message: { timeout: 1, retry: 0, max_pending: 1, lease: 1 }, task: { split: { workers: 2 } }, dead_letter: { path: "x" }, stats: { prefix: "tempest" } };
const topology = (name: string, tasks: string[], member = "my-app"): Topology => ({
  name, member, file: `/p/${name}.ts`, kind: "module", graph: "", runtime,
  dag: { tasks, edges: tasks.slice(1).map((t, i) => [tasks[i] as string, t]), roots: tasks.slice(0, 1) },
  tasks: tasks.map((t) => ({ name: t, join: "union", module: `/p/${name}.ts`, select: ["default", "tasks", t] })),
});
const project = (topologies: Topology[], version?: string): Project => ({
  root: "/p", projectFile: "/p/Project.toml", tempestHome: "/h", topologies,
  members: [{ file: "/p/projects/my-app.toml", name: "my-app", version }],
});

test("one executable per topology and task: <project>-<name>-<version>", () => {
  const plan = planExecutables(project([topology("words", ["split", "count"])], "1.2.0"));
  expect(plan.map((p) => p.file)).toEqual(["my-app-words-1.2.0", "my-app-split-1.2.0", "my-app-count-1.2.0"]);
  expect(plan[1]).toMatchObject({ role: "task", topology: "words", task: "split" });
});

test("a task name used twice in a member, or equal to a topology's, is qualified by its topology", () => {
  const plan = planExecutables(project([topology("a", ["parse", "b"]), topology("b", ["parse", "store"])]), "0.1.0");
  expect(plan.map((p) => p.file)).toEqual(["my-app-a-0.1.0", "my-app-a.parse-0.1.0", "my-app-a.b-0.1.0", "my-app-b-0.1.0", "my-app-b.parse-0.1.0", "my-app-store-0.1.0"]);
});

test("the version falls back to package.json's, then 0.0.0; odd characters are made file-safe", () => {
  expect(planExecutables(project([topology("w", ["x"])]), "3.0.0")[0]?.file).toBe("my-app-w-3.0.0");
  expect(planExecutables(project([topology("w", ["x"])]))[0]?.file).toBe("my-app-w-0.0.0");
  expect(fileSafe("My App / 2")).toBe("My-App-2");
});

test("the manifest describes topologies, tasks and their executables", () => {
  const p = project([topology("words", ["split", "count"])], "1.0.0");
  const d = describeBuild(p, planExecutables(p), { tempestVersion: "9", builtAt: "now", platform: "linux-x64" });
  expect(d).toMatchObject({ project: "my-app", version: "1.0.0", tempest_version: "9" });
  expect(d.topologies[0]).toMatchObject({ name: "words", executable: "my-app-words-1.0.0", chart: "words.md", graph: "flowchart LR\n    split --> count\n", edges: [["split", "count"]] });
  expect(d.tasks).toEqual([
    { name: "split", topology: "words", executable: "my-app-split-1.0.0", join: "union", workers: 2 },
    { name: "count", topology: "words", executable: "my-app-count-1.0.0", join: "union", workers: 1 },
  ]);
});

test("the entry imports the runtime and each module lazily, by key", () => {
  const embedded = { format: 1, project: "p", version: "1", tempestVersion: "1", topologies: [], executables: {} } satisfies EmbeddedProject;
  const src = entrySource(embedded, { "src/tasks/a.ts": "/p/src/tasks/a.ts" });
  expect(src).toContain(`import { main } from "./runtime.js";`);
  expect(src).toContain(`"src/tasks/a.ts": () => import("/p/src/tasks/a.ts"),`);
  expect(src).toContain(`await main({\n  "format": 1,`);
});
