import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

/**
 * `$TEMPEST_HOME` (DESIGN.md §8): the same layout on every node. `bin/` holds built executables
 * (`tempest build --install`, or an agent's downloads), `config/` settings, `logs/` process
 * logs, `run/` sockets and pid files.
 */
export const HOME_DIRS = ["bin", "config", "logs", "run"] as const;

/** Flag, then `TEMPEST_HOME`, then `~/.tempest`; `~` is expanded and the path made absolute. */
export function resolveTempestHome(flag: string | undefined, env: Record<string, string | undefined>): string {
  const raw = flag ?? env.TEMPEST_HOME ?? "~/.tempest";
  const expanded = raw === "~" || raw.startsWith("~/") ? join(homedir(), raw.slice(1)) : raw;
  return isAbsolute(expanded) ? expanded : resolve(expanded);
}

/** Creates the home and its folders (config/ and run/ private to the user); says what was new. */
export function initTempestHome(home: string): { created: string[]; existing: string[] } {
  const created: string[] = [];
  const existing: string[] = [];
  mkdirSync(home, { recursive: true });
  for (const d of HOME_DIRS) {
    const path = join(home, d);
    if (existsSync(path)) existing.push(d);
    else {
      mkdirSync(path, { mode: d === "config" || d === "run" ? 0o700 : 0o755 });
      created.push(d);
    }
  }
  return { created, existing };
}
