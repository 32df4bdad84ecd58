import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { TempestError } from "../core/errors.ts";
import type { Topology } from "../core/project/model.ts";
import { deadLetterStream } from "../core/registry/keys.ts";
import { runLocal } from "../roles/local/run.ts";
import { createSource } from "../roles/sources/index.ts";
import { RUN_SUMMARY_ENV, type TopologySummary } from "../roles/topology/summary.ts";
import { defineTempestCommand, parsePort, repeatedFlag } from "./_command.ts";
import { projectArgs, requireProject } from "./_project.ts";
import { findTopology } from "./_topology.ts";

export default defineTempestCommand({
  meta: { name: "run", description: "Local mode: run a topology and all its tasks on this machine" },
  args: {
    topology: { type: "positional", required: true, description: "the topology to run" },
    ...projectArgs,
    port: { type: "string", description: "the topology's port (default from Runtime.toml, else a free one)", valueHint: "PORT" },
    strict: { type: "boolean", description: "exit 1 when any message was dead-lettered (for CI)" },
    progress: { type: "boolean", description: "a progress line on stderr every 2 s, also when it is not a terminal (default: on a terminal only; --no-progress: never; or TEMPEST_PROGRESS=1/0)" },
  },
  async run({ args, rawArgs }) {
    const sets = repeatedFlag(rawArgs, "set");
    // Load and import everything first, so a broken module fails here with its file:line.
    const project = await requireProject({ project: args.project, sets });
    const topology = findTopology(project, args.topology);
    await createSource(topology);
    // --strict needs the run's outcome: the topology child writes its summary to this file
    // (children inherit the environment).
    const summaryFile = args.strict ? join(tmpdir(), `tempest-strict-${process.pid}-${Date.now()}.json`) : undefined;
    if (summaryFile) process.env[RUN_SUMMARY_ENV] = summaryFile;
    try {
      process.exitCode = await runLocal({ project, topology, port: args.port !== undefined ? parsePort(args.port) : undefined, sets, progress: args.progress });
      if (summaryFile && process.exitCode === 0) failOnDeadLetters(topology, summaryFile, project.root);
    } finally {
      if (summaryFile) rmSync(summaryFile, { force: true });
    }
  },
});

function failOnDeadLetters(topology: Topology, summaryFile: string, root: string): void {
  if (!existsSync(summaryFile)) throw new TempestError("E_RUNTIME", "--strict: the topology wrote no summary, so whether anything was dead-lettered is unknown", { exitCode: 1 });
  const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as TopologySummary;
  if (summary.dead_lettered === 0) return;
  const source = topology.runtime.source;
  const where = source?.type === "redis-stream" ? `the stream ${deadLetterStream(source.key)}` : relative(process.cwd(), topology.runtime.dead_letter.path) || join(root, topology.runtime.dead_letter.path);
  const n = summary.dead_lettered;
  throw new TempestError("E_RUNTIME", `${n} message${n === 1 ? " was" : "s were"} dead-lettered (--strict)`, { exitCode: 1, hint: `see ${where}` });
}
