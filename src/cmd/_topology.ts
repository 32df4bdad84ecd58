import { findTopologyNamed } from "../core/project/find.ts";
import type { Project, Topology } from "../core/project/model.ts";

/** The named topology of a project, or a one-line error suggesting the closest name. */
export function findTopology(project: Project, name: string): Topology {
  return findTopologyNamed(project.topologies, name, project.projectFile);
}
