import { relative } from "node:path";
import { resolveTempestHome } from "../core/tempest-home.ts";
import { buildProject } from "../roles/build/build.ts";
import { VERSION } from "../version.ts";
import { defineTempestCommand } from "./_command.ts";
import { requireProject } from "./_project.ts";

export default defineTempestCommand({
  meta: { name: "build", description: "Compile the project into target/build/: an executable per topology and task, manifest.json, Mermaid charts" },
  args: {
    project: { type: "string", description: "project folder (default: the nearest folder with Project.toml)", valueHint: "DIR" },
    out: { type: "string", description: "the build folder (default: <project>/target/build)", valueHint: "DIR" },
    install: { type: "boolean", description: "also copy the executables into $TEMPEST_HOME/bin" },
    home: { type: "string", description: "the home for --install (default: $TEMPEST_HOME, else ~/.tempest)", valueHint: "DIR" },
    typecheck: { type: "boolean", default: true, description: "skip the TypeScript type check of the modules (it runs by default)" },
  },
  async run({ args }) {
    // Loading imports every module: a syntax error stops here with its file:line.
    const project = await requireProject({ project: args.project });
    const progress = (line: string) => console.error(line);
    const installHome = args.install ? resolveTempestHome(args.home, { ...process.env, TEMPEST_HOME: process.env.TEMPEST_HOME ?? project.tempestHome }) : undefined;
    const r = await buildProject({ project, out: args.out, typecheck: args.typecheck, installHome, tempestVersion: VERSION, progress });
    const show = (f: string) => relative(process.cwd(), f) || ".";
    const exes = r.manifest.topologies.length + r.manifest.tasks.length;
    const size = Object.values(r.manifest.files).find(() => true)?.size ?? 0;
    console.log(`built ${r.manifest.project} ${r.manifest.version}: ${exes} executable${exes === 1 ? "" : "s"} (one ${(size / 1024 / 1024).toFixed(1)} MiB file, hard-linked), manifest.json and ${r.manifest.topologies.length} chart${r.manifest.topologies.length === 1 ? "" : "s"} in ${show(r.out)} (${r.seconds.toFixed(1)} s)`);
    if (r.installed.length) console.log(`installed into ${show(installHome ?? "")}/bin: ${r.installed.length - 1} executable${r.installed.length === 2 ? "" : "s"} and the manifest`);
  },
});
