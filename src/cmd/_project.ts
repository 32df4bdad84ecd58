import { TempestError } from "../core/errors.ts";
import { findProjectRoot, loadProject, type LoadResult } from "../core/project/load.ts";
import type { Project } from "../core/project/model.ts";
import { registerSdkModule } from "../sdk/plugin.ts";

export interface ProjectArgs {
  project?: string;
  sets?: string[];
  importTasks?: boolean;
}

/** Finds and loads the project for a command; problems are returned, not thrown. */
export async function loadProjectFor(args: ProjectArgs): Promise<LoadResult> {
  const start = args.project ?? process.cwd();
  const root = args.project ?? findProjectRoot(start);
  if (!root) {
    throw new TempestError("E_PROJECT_MEMBER", `no Project.toml in ${start} or any folder above it`, {
      hint: "run this inside a Tempest project, pass --project DIR, or create one with `tempest new <dir>`",
    });
  }
  registerSdkModule();
  return loadProject({ dir: root, env: process.env, sets: args.sets, importTasks: args.importTasks });
}

/** Loads the project or throws every problem at once (warnings are printed, not fatal). */
export async function requireProject(args: ProjectArgs): Promise<Project> {
  const { project, problems } = await loadProjectFor(args);
  const errors = problems.filter((p) => p.severity === "error");
  if (!project || errors.length) {
    throw new TempestError(errors[0]?.code ?? "E_CONFIG_INVALID", `${errors.length} problem(s) in the project`, { problems });
  }
  return project;
}

export const projectArgs = {
  project: { type: "string", description: "project folder (default: the nearest folder with Project.toml)", valueHint: "DIR" },
  set: { type: "string", description: "override a runtime setting, repeatable: --set topology.x.message.timeout=5000", valueHint: "KEY=VALUE" },
} as const;
