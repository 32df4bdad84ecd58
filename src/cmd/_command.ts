import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { TempestError } from "../core/errors.ts";

/**
 * `defineCommand` plus what citty leaves out: unknown flags and surplus positionals are an
 * error (citty accepts them silently), so a typo like `--projct` never goes unnoticed.
 */
export function defineTempestCommand<T extends ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return defineCommand({
    ...def,
    setup(ctx) {
      rejectUnknownArgs(ctx.rawArgs, (def.args ?? {}) as ArgsDef, String((def.meta as { name?: string } | undefined)?.name ?? ""));
      return def.setup?.(ctx);
    },
  });
}

function rejectUnknownArgs(rawArgs: string[], args: ArgsDef, command: string): void {
  const flags = new Map<string, { type?: string }>();
  let positionals = 0;
  for (const [name, a] of Object.entries(args)) {
    if (a.type === "positional") {
      positionals++;
      continue;
    }
    flags.set(name, a);
    for (const alias of ([] as string[]).concat((a as { alias?: string | string[] }).alias ?? [])) flags.set(alias, a);
  }
  let seenPositionals = 0;
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-") {
      if (++seenPositionals > positionals) {
        throw new TempestError("E_USAGE", `unexpected argument \`${arg}\`${command ? ` for \`tempest ${command}\`` : ""}`, { hint: `see \`tempest ${command} --help\`` });
      }
      continue;
    }
    const name = arg.replace(/^--?/, "").split("=")[0] as string;
    const known = flags.get(name) ?? flags.get(name.replace(/^no-/, ""));
    if (!known) {
      throw new TempestError("E_USAGE", `unknown option \`${arg.split("=")[0]}\`${command ? ` for \`tempest ${command}\`` : ""}`, { hint: `see \`tempest ${command} --help\`` });
    }
    // A string flag written `--flag value` consumes the next argument.
    if (known.type === "string" && !arg.includes("=")) i++;
  }
}

/** Every value of a repeatable string flag, e.g. `--set a=1 --set b=2`. */
export function repeatedFlag(rawArgs: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] as string;
    if (arg === `--${name}`) {
      const v = rawArgs[i + 1];
      if (v === undefined) throw new TempestError("E_USAGE", `--${name} needs a value`, { hint: `--${name} key=value` });
      out.push(v);
      i++;
    } else if (arg.startsWith(`--${name}=`)) out.push(arg.slice(name.length + 3));
  }
  return out;
}

export function parsePort(raw: string, flag = "--port"): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new TempestError("E_USAGE", `${flag} ${raw} is not a port`, { hint: "give a number from 0 to 65535 (0 picks a free port)" });
  }
  return n;
}

/** `HOST:PORT` (or `[::1]:PORT`) as given to --connect. */
export function parseHostPort(raw: string, flag: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(raw);
  if (!m || !m[1]) throw new TempestError("E_USAGE", `${flag} ${raw} is not HOST:PORT`, { hint: `e.g. ${flag} 127.0.0.1:7070` });
  return { host: m[1], port: parsePort(m[2] as string, flag) };
}
