#!/usr/bin/env bun
import { runCommand, type CommandDef } from "citty";
import { renderHelp } from "./cmd/_help.ts";
import { reportError } from "./cmd/_report.ts";
import { TempestError } from "./core/errors.ts";
import { didYouMean } from "./core/text/suggest.ts";
import { VERSION } from "./version.ts";

const main = {
  meta: { name: "tempest", version: VERSION, description: "Tempest: Storm-style pipelines in one binary" },
  // In the order a user meets them: make a project, check it, run it, ship it, operate it.
  subCommands: {
    new: () => import("./cmd/new.ts").then((m) => m.default),
    generate: () => import("./cmd/generate.ts").then((m) => m.default),
    check: () => import("./cmd/check.ts").then((m) => m.default),
    graph: () => import("./cmd/graph.ts").then((m) => m.default),
    run: () => import("./cmd/run.ts").then((m) => m.default),
    test: () => import("./cmd/test.ts").then((m) => m.default),
    build: () => import("./cmd/build.ts").then((m) => m.default),
    deploy: () => import("./cmd/deploy.ts").then((m) => m.default),
    start: () => import("./cmd/start.ts").then((m) => m.default),
    stop: () => import("./cmd/stop.ts").then((m) => m.default),
    reload: () => import("./cmd/reload.ts").then((m) => m.default),
    scale: () => import("./cmd/scale.ts").then((m) => m.default),
    status: () => import("./cmd/status.ts").then((m) => m.default),
    logs: () => import("./cmd/logs.ts").then((m) => m.default),
    supervise: () => import("./cmd/supervise.ts").then((m) => m.default),
    agent: () => import("./cmd/agent.ts").then((m) => m.default),
    home: () => import("./cmd/home.ts").then((m) => m.default),
    director: () => import("./cmd/director.ts").then((m) => m.default),
    topology: () => import("./cmd/topology.ts").then((m) => m.default),
    task: () => import("./cmd/task.ts").then((m) => m.default),
  },
} satisfies CommandDef;

const ROOT_EXTRAS = [
  { name: "help", description: "Show the help of tempest or of a command: tempest help generate task" },
  { name: "version", description: "Print the version of tempest (also --version, -v)" },
];

/** The one place that turns errors into output and exit codes (DESIGN.md §1). */
async function run(rawArgs: string[]): Promise<number> {
  if (rawArgs[0] === "--version" || rawArgs[0] === "-v" || (rawArgs[0] === "version" && rawArgs.length === 1)) {
    console.log(VERSION);
    return 0;
  }
  // `tempest help [command…]` is `tempest [command…] --help`.
  const help = rawArgs[0] === "help" || rawArgs.includes("--help") || rawArgs.includes("-h");
  const args = rawArgs[0] === "help" ? rawArgs.slice(1) : rawArgs;
  try {
    const { cmd, path } = await resolveCommand(main as CommandDef, args, ["tempest"]);
    if (help || rawArgs.length === 0) {
      const usage = await renderHelp(cmd, path, path.length === 1 ? ROOT_EXTRAS : []);
      if (rawArgs.length === 0) {
        console.error(usage);
        return 2;
      }
      console.log(usage);
      return 0;
    }
    await runCommand(main as CommandDef, { rawArgs: args });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

/**
 * Follows the subcommand words of `args` down the tree. A word where a command expects a
 * subcommand and has none of that name is a usage error with a suggestion, also under
 * --help: `tempest director2 --help` must not print the root help and exit 0.
 */
async function resolveCommand(cmd: CommandDef, args: string[], path: string[]): Promise<{ cmd: CommandDef; path: string[] }> {
  const subs = cmd.subCommands as Record<string, (() => Promise<CommandDef>) | undefined> | undefined;
  const index = args.findIndex((a) => !a.startsWith("-"));
  const name = index < 0 ? undefined : args[index];
  if (!subs || name === undefined) return { cmd, path };
  const sub = subs[name];
  if (!sub) {
    const shown = [...path.slice(1), name].join(" ");
    const known = Object.keys(subs);
    const close = didYouMean(name, path.length === 1 ? [...known, ...ROOT_EXTRAS.map((e) => e.name)] : known);
    throw new TempestError("E_USAGE", `unknown command \`${shown}\``, {
      hint: `${close ? `${close} ` : ""}run \`${[...path, "--help"].join(" ")}\` for the commands`,
    });
  }
  return resolveCommand(await sub(), args.slice(index + 1), [...path, name]);
}

process.exit(await run(process.argv.slice(2)));
