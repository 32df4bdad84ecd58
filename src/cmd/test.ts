import { defineCommand } from "citty";
import { TempestError } from "../core/errors.ts";
import { findProjectRoot } from "../core/project/load.ts";
import { runProjectTests } from "../roles/test/run.ts";

/**
 * Not a strict command: every argument but `--project DIR` goes to `bun test` as it is
 * (`tempest test --timeout 10000 -t split`). Paths and filters are relative to the project root.
 */
export default defineCommand({
  meta: { name: "test", description: "Run the project's tests (bun test) with the Bun inside tempest; other arguments go to bun test" },
  args: {
    project: { type: "string", description: "project folder (default: the nearest folder with Project.toml)", valueHint: "DIR" },
  },
  async run({ rawArgs }) {
    const args = [...rawArgs];
    let dir: string | undefined;
    const i = args.findIndex((a) => a === "--project" || a.startsWith("--project="));
    if (i >= 0) {
      const a = args[i] as string;
      dir = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[i + 1];
      if (!dir) throw new TempestError("E_USAGE", "--project needs a value", { hint: "--project DIR" });
      args.splice(i, a.includes("=") ? 1 : 2);
    }
    const root = dir ?? findProjectRoot(process.cwd());
    if (!root) {
      throw new TempestError("E_PROJECT_MEMBER", `no Project.toml in ${process.cwd()} or any folder above it`, { hint: "run this inside a Tempest project, or pass --project DIR" });
    }
    // From the project's root, like `cargo test` from any folder of a crate.
    process.exitCode = await runProjectTests({ cwd: root, args });
  },
});
