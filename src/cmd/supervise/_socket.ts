import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { TempestError } from "../../core/errors.ts";
import { parseToml } from "../../core/config/toml.ts";
import { defaultSocketPath, expandPath } from "../../core/supervise/config.ts";
import { controlRequest, type ControlOk } from "../../roles/supervise/control-client.ts";
import type { ControlRequest } from "../../roles/supervise/protocol.ts";

/** Flags every control subcommand takes to find its supervisor. */
export const socketArgs = {
  socket: { type: "string", description: "the supervisor's control socket", valueHint: "PATH" },
  config: { type: "string", description: "read the socket path from this supervise file", valueHint: "FILE" },
} as const;

/**
 * Which socket to talk to: --socket, else the `socket` of --config, else of ./supervise.toml,
 * else $TEMPEST_HOME/run/supervise.sock (the same defaults `tempest supervise` itself uses).
 */
export function resolveSocket(args: { socket?: string; config?: string }, env: Record<string, string | undefined> = process.env): string {
  if (args.socket) return resolve(args.socket);
  if (args.config) {
    if (!existsSync(args.config)) throw new TempestError("E_USAGE", `--config ${args.config} does not exist`, { hint: "give the supervise file the supervisor was started with" });
    return socketOf(args.config, env);
  }
  return existsSync("supervise.toml") ? socketOf("supervise.toml", env) : defaultSocketPath(env);
}

/**
 * A file that does not parse is an error here too, ./supervise.toml included: falling back to
 * the default socket would answer "no supervisor running" for a supervisor that runs on the
 * file's socket, and hide the one thing to fix.
 */
function socketOf(file: string, env: Record<string, string | undefined>): string {
  const parsed = parseToml(file, readFileSync(file, "utf8"));
  if (!parsed.ok) throw new TempestError(parsed.problem.code, parsed.problem.message, { problems: [parsed.problem], exitCode: 2 });
  const socket = (parsed.doc.data.supervise as { socket?: unknown } | undefined)?.socket;
  return typeof socket === "string" ? expandPath(socket, dirname(resolve(file)), env) : defaultSocketPath(env);
}

export function request(args: { socket?: string; config?: string }, req: ControlRequest, onBytes?: (b: Uint8Array) => void): Promise<ControlOk> {
  return controlRequest(resolveSocket(args), req, onBytes);
}
