import { expect, test } from "bun:test";
import { identNameProblem, projectNameProblem, snakeName } from "./names.ts";
import { localTemplateProblem, outputPath, renderTemplate, type Template } from "./render.ts";

const vars = { "project-name": "my-streams", project_name: "my_streams", topology: "my_streams", "tempest-version": "0.1.0" };

test("placeholders are filled in names and contents; .tmpl and _gitignore are renamed", () => {
  const t: Template = {
    name: "default",
    builtIn: true,
    files: [
      { path: "projects/{{project-name}}.toml", data: `name = "{{project-name}}"\n[[topology]]\nmod = "src/topology/{{ topology }}.ts"\n` },
      { path: "test/split.test.ts.tmpl", data: "import x from '../src/tasks/split.ts';\n" },
      { path: "_gitignore", data: "target/\n" },
      { path: "data/logo.png", data: new Uint8Array([0, 1, 2]) },
    ],
  };
  const r = renderTemplate(t, vars);
  expect(r.files.map((f) => f.path)).toEqual(["projects/my-streams.toml", "test/split.test.ts", ".gitignore", "data/logo.png"]);
  expect(r.files[0]?.data).toBe(`name = "my-streams"\n[[topology]]\nmod = "src/topology/my_streams.ts"\n`);
  expect(r.files[3]?.data).toEqual(new Uint8Array([0, 1, 2]));
  expect([...r.used].sort()).toEqual(["project-name", "topology"]);
  expect(r.warnings).toEqual([]);
});

test("an unknown placeholder is left as it is, with a warning naming file:line:col", () => {
  const r = renderTemplate({ name: "/tpl", builtIn: false, files: [{ path: "README.md", data: "# {{project-name}}\n\nby {{author}}\n" }] }, vars);
  expect(r.files[0]?.data).toBe("# my-streams\n\nby {{author}}\n");
  expect(r.warnings).toHaveLength(1);
  expect(r.warnings[0]).toMatchObject({ file: "README.md", line: 3, col: 4, severity: "warning", message: "unknown placeholder {{author}} left as it is" });
});

test("a local template needs Project.toml and the project name placeholder", () => {
  const noName: Template = { name: "/tpl", builtIn: false, files: [{ path: "Project.toml", data: "[project]\n" }] };
  expect(localTemplateProblem(noName, renderTemplate(noName, vars))?.message).toBe("template folder /tpl never uses {{project-name}}");
  const noProject: Template = { name: "/tpl", builtIn: false, files: [{ path: "{{project-name}}.toml", data: "" }] };
  expect(localTemplateProblem(noProject, renderTemplate(noProject, vars))?.message).toBe("template folder /tpl has no Project.toml");
  const ok: Template = { name: "/tpl", builtIn: false, files: [{ path: "Project.toml", data: "" }, { path: "projects/{{project_name}}.toml", data: "" }] };
  expect(localTemplateProblem(ok, renderTemplate(ok, vars))).toBeUndefined();
});

test("outputPath only renames the last segment's .tmpl", () => {
  expect(outputPath("a.tmpl/b.ts.tmpl")).toBe("a.tmpl/b.ts");
});

test("project names: lowercase, digits, - and _, starting with a letter", () => {
  for (const good of ["demo", "my-streams", "a1", "x_y"]) expect(projectNameProblem(good)).toBeUndefined();
  for (const bad of ["", "My Streams", "1abc", "a/b", "-x", "x-", "Demo", "a".repeat(65)]) expect(projectNameProblem(bad)).toBeDefined();
  expect(projectNameProblem("My Streams")).toBe("`My Streams` is not a valid project name");
  expect(snakeName("my-streams")).toBe("my_streams");
});

test("topology and task names are identifiers, not reserved words", () => {
  expect(identNameProblem("enrich_orders", "task")).toBeUndefined();
  expect(identNameProblem("2fast", "task")).toBe("`2fast` is not a valid task name");
  expect(identNameProblem("my-task", "task")).toBe("`my-task` is not a valid task name");
  expect(identNameProblem("delete", "task")).toBe("`delete` is a reserved word in JavaScript, so it cannot name a task");
});
