import { TempestError } from "../errors.ts";
import { didYouMean } from "../text/suggest.ts";

/**
 * The one topology lookup by name, for tempest's commands and the built executables alike:
 * the topology, or `no topology named \`x\` [in <where>]` with the closest name as a hint.
 */
export function findTopologyNamed<T extends { name: string }>(topologies: readonly T[], name: string, where?: string): T {
  const found = topologies.find((t) => t.name === name);
  if (found) return found;
  const names = topologies.map((t) => t.name);
  throw new TempestError("E_UNKNOWN_TOPOLOGY", `no topology named \`${name}\`${where ? ` in ${where}` : ""}`, {
    hint: didYouMean(name, names) || `known topologies: ${names.join(", ") || "none"}`,
  });
}
