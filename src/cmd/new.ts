import { relative } from "node:path";
import { formatProblem } from "../core/errors.ts";
import { createProject } from "../roles/scaffold/new.ts";
import { VERSION } from "../version.ts";
import { defineTempestCommand } from "./_command.ts";

export default defineTempestCommand({
  meta: { name: "new", description: "Create a project that runs at once: Project.toml, a topology, tasks, Runtime.toml, a test" },
  args: {
    dir: { type: "positional", required: true, description: "the folder to create (its name is the project's name unless --name)" },
    name: { type: "string", description: "the project's name: lowercase letters, digits, - and _", valueHint: "NAME" },
    template: { type: "string", description: "a built-in template (default, diamond, redis-stream) or the path of a template folder", valueHint: "T" },
    force: { type: "boolean", description: "write into a folder that is not empty (files with the same names are replaced)" },
  },
  run({ args }) {
    const made = createProject({ dir: args.dir, name: args.name, template: args.template, force: args.force, cwd: process.cwd(), tempestVersion: VERSION });
    for (const w of made.warnings) console.error(formatProblem(w));
    const where = relative(process.cwd(), made.dir) || ".";
    console.log(`created ${where}: project \`${made.name}\` from template ${made.template}, ${made.files.length} files`);
    console.log("next:");
    const steps: Array<[string, string]> = [
      ...(where !== "." ? [[`cd ${where}`, ""] as [string, string]] : []),
      ["tempest check", "validate it"],
      [`tempest run ${made.topology}`, "run the topology and its tasks here"],
      ["tempest test", "run the tests in test/"],
      ["tempest build", "executables for a server in target/build/"],
    ];
    const width = Math.max(...steps.map(([c]) => c.length));
    for (const [c, what] of steps) console.log(`  ${what ? `${c.padEnd(width)}   # ${what}` : c}`);
  },
});
