#!/usr/bin/env bun
import { runCommand, renderUsage, type CommandDef } from "citty";
import { formatProblem, isTempestError } from "./core/errors.ts";
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

/** The one place that turns errors into output and exit codes (DESIGN.md §1). */
async function run(rawArgs: string[]): Promise<number> {
  if (rawArgs[0] === "--version" || rawArgs[0] === "-v") {
    console.log(VERSION);
    return 0;
  }
  const [cmd, parent] = await resolveCommand(main as CommandDef, rawArgs);
  if (rawArgs.includes("--help") || rawArgs.includes("-h") || rawArgs.length === 0) {
    const usage = await renderUsage(cmd, parent);
    if (rawArgs.length === 0) {
      console.error(usage);
      return 2;
    }
    console.log(usage);
    return 0;
  }
  try {
    await runCommand(main as CommandDef, { rawArgs });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  if (isTempestError(e)) {
    if (e.problems.length) {
      for (const p of e.problems) console.error(formatProblem(p));
      const errors = e.problems.filter((p) => p.severity === "error").length;
      console.error(`${errors} error${errors === 1 ? "" : "s"} found`);
    } else {
      console.error(`error: ${e.message}${e.hint ? ` — ${e.hint}` : ""}`);
    }
    return e.exitCode;
  }
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === "CLIError") {
    const unknown = err.code === "E_UNKNOWN_COMMAND";
    console.error(`error: ${unknown ? (err.message ?? "").replace("Unknown command", "unknown command") : err.message} — run \`tempest --help\` for the commands`);
    return 2;
  }
  console.error(e);
  return 1;
}

async function resolveCommand(cmd: CommandDef, args: string[], parent?: CommandDef): Promise<[CommandDef, CommandDef | undefined]> {
  const subs = cmd.subCommands as Record<string, () => Promise<CommandDef>> | undefined;
  const name = args.find((a) => !a.startsWith("-"));
  const sub = name && subs?.[name];
  if (!sub) return [cmd, parent];
  return resolveCommand(await sub(), args.slice(args.indexOf(name) + 1), cmd);
}

process.exit(await run(process.argv.slice(2)));
