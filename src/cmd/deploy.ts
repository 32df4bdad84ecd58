import { deployProject } from "../roles/client/deploy.ts";
import { VERSION } from "../version.ts";
import { defineTempestCommand } from "./_command.ts";
import { directorArgs, directorClient } from "./_director.ts";
import { requireProject } from "./_project.ts";
import { startTopology } from "./start.ts";

export default defineTempestCommand({
  meta: { name: "deploy", description: "Build when stale, upload the executables to the director and register this version (it starts stopped)" },
  args: {
    project: { type: "string", description: "project folder (default: the nearest folder with Project.toml)", valueHint: "DIR" },
    start: { type: "boolean", description: "start every deployed topology afterwards" },
    ...directorArgs,
  },
  async run({ args }) {
    const client = directorClient(args.director);
    // Loading checks everything: a project that fails `check` stops here, with its problems.
    const project = await requireProject({ project: args.project });
    const r = await deployProject({ project, client, tempestVersion: VERSION, progress: (l) => console.error(l) });
    const sha = Object.values(r.manifest.files).find(() => true)?.sha256 ?? "";
    for (const d of r.deployed) {
      console.log(`deployed ${d.topology} ${d.version} to ${client.url}${d.created ? "" : " (already there)"} — artifact ${sha.slice(0, 12)}, ${r.uploaded ? `${(r.uploadedBytes / 1024 / 1024).toFixed(1)} MiB uploaded` : "nothing to upload"}`);
    }
    if (args.start) for (const d of r.deployed) await startTopology(client, d.topology, true);
    else {
      const dir = args.director ? ` --director ${args.director}` : "";
      const first = r.deployed[0];
      // A running topology keeps its version until a reload switches it; a stopped one starts with the newest.
      if (first && first.desired !== "running") console.log(`start with: tempest start ${first.topology}${dir}`);
      for (const d of r.deployed) if (d.desired === "running" && d.created) console.log(`${d.topology} keeps running its current version; switch to ${d.version} with: tempest reload ${d.topology}${dir}`);
    }
  },
});
