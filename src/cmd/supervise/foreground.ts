import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { CommandDef } from "citty";
import { TempestError } from "../../core/errors.ts";
import { tempestHome } from "../../core/supervise/config.ts";
import { runSuperviseRole } from "../../roles/supervise/main.ts";
import { defineTempestCommand } from "../_command.ts";

/**
 * `tempest supervise [CONFIG]` itself: runs in the foreground until SIGTERM/SIGINT. Without
 * CONFIG: ./supervise.toml, else $TEMPEST_HOME/config/supervise.toml.
 */
export function foregroundCommand(config: string | undefined): CommandDef {
  return defineTempestCommand({
    meta: { name: "supervise", description: "Run and supervise the processes of a supervise TOML file, in the foreground" },
    args: {},
    async run() {
      process.exitCode = await runSuperviseRole({ configFile: configFile(config), env: process.env });
    },
  });
}

function configFile(given: string | undefined): string {
  if (given !== undefined) {
    if (existsSync(given)) return resolve(given);
    throw new TempestError("E_USAGE", `no config file ${given}`, { hint: "give the path of a supervise TOML file" });
  }
  const candidates = [resolve("supervise.toml"), `${tempestHome(process.env)}/config/supervise.toml`];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new TempestError("E_USAGE", `no config file: neither ${candidates.join(" nor ")} exists`, { hint: "pass one: `tempest supervise path/to/supervise.toml`" });
  return found;
}
