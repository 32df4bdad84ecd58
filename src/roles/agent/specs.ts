import { join } from "node:path";
import type { PlannedProcess } from "../../core/cluster/model.ts";
import { defineProcess, type ProcessSpec } from "../../core/supervise/config.ts";
import { isLoopbackHost } from "./options.ts";

export interface SpecContext {
  home: string;
  redis: string;
  name: string;
  advertise: string;
}

/** Where a process's executable is run from: `$HOME/bin/<executable>`, a hard link of its artifact. */
export function executablePath(home: string, p: PlannedProcess): string {
  return join(home, "bin", p.executable);
}

export function workDir(home: string, topology: string): string {
  return join(home, "run", topology);
}

/**
 * One supervised process per planned process (DESIGN.md §8). The built executable picks its
 * role from its file name, so only the role's flags are given. The sha256 and the id go into
 * the environment as well: a new artifact under the same file name is then a changed spec, and
 * the supervisor restarts exactly that process.
 */
export function processSpec(p: PlannedProcess, ctx: SpecContext): ProcessSpec {
  const args = p.kind === "topology" ? ["--host", isLoopbackHost(ctx.advertise) ? "127.0.0.1" : "0.0.0.0", "--port", "0"] : ["--discover", "--instance", String(p.instance)];
  return defineProcess({
    name: p.id,
    command: executablePath(ctx.home, p),
    args,
    cwd: workDir(ctx.home, p.topology),
    env: {
      TEMPEST_REDIS_URL: ctx.redis,
      TEMPEST_AGENT_NAME: ctx.name,
      TEMPEST_ADVERTISE_HOST: ctx.advertise,
      TEMPEST_PROCESS_ID: p.id,
      TEMPEST_DEPLOY_VERSION: p.version,
      TEMPEST_ARTIFACT_SHA256: p.sha256,
    },
    instances: 1,
    restart: "always",
    stopTimeoutMs: p.stop_timeout_ms,
  });
}
