import { runCommand, type CommandDef } from "citty";
import { foregroundCommand } from "./supervise/foreground.ts";

const subCommands: Record<string, () => Promise<CommandDef>> = {
  status: () => import("./supervise/status.ts").then((m) => m.default as CommandDef),
  start: () => import("./supervise/control.ts").then((m) => m.start as CommandDef),
  stop: () => import("./supervise/control.ts").then((m) => m.stop as CommandDef),
  restart: () => import("./supervise/control.ts").then((m) => m.restart as CommandDef),
  signal: () => import("./supervise/signal.ts").then((m) => m.default as CommandDef),
  logs: () => import("./supervise/logs.ts").then((m) => m.default as CommandDef),
  reload: () => import("./supervise/reload.ts").then((m) => m.default as CommandDef),
};

/**
 * citty treats the first word after `supervise` as a subcommand and rejects any other. Here a
 * word that looks like a file path (it has a `.` or a `/`) is the CONFIG, so that
 * `tempest supervise my.toml` works next to `tempest supervise status`; help still lists only
 * the real subcommands, and a typo (`stauts`) is still an unknown command. (Only paths: other
 * keys, such as the `then` that `await` looks up, must stay undefined.)
 */
const withConfigFallback = new Proxy(subCommands, {
  get: (target, key) => {
    if (typeof key !== "string" || Object.hasOwn(target, key)) return target[key as string];
    return /[./]/.test(key) ? () => Promise.resolve(foregroundCommand(key)) : undefined;
  },
});

export default {
  meta: { name: "supervise", description: "A process manager for looping programs: restarts with backoff, log rotation, a control socket" },
  args: { config: { type: "positional", required: false, description: "the supervise TOML file (default ./supervise.toml, else $TEMPEST_HOME/config/supervise.toml)" } },
  subCommands: withConfigFallback,
  async run({ rawArgs }) {
    // citty calls this after a subcommand too; only a bare `tempest supervise [--flags]` is ours.
    if (rawArgs.some((a) => !a.startsWith("-"))) return;
    await runCommand(foregroundCommand(undefined), { rawArgs });
  },
} satisfies CommandDef;
