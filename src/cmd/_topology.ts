import { TempestError } from "../core/errors.ts";
import type { Project, Topology } from "../core/project/model.ts";
import { didYouMean } from "../core/text/suggest.ts";

/** The named topology of a project, or a one-line error suggesting the closest name. */
export function findTopology(project: Project, name: string): Topology {
  const t = project.topologies.find((x) => x.name === name);
  if (t) return t;
  const names = project.topologies.map((x) => x.name);
  throw new TempestError("E_UNKNOWN_TOPOLOGY", `no topology named \`${name}\` in ${project.projectFile}`, {
    hint: didYouMean(name, names) || `known topologies: ${names.join(", ") || "none"}`,
  });
}
