import type { ArgsDef, CommandDef } from "citty";

/**
 * Help text for any command, ours rather than citty's renderUsage: citty joins the parent's
 * name with a child whose meta.name already holds it (`generate generate task`), wraps names in
 * literal backticks and pads every column line with trailing spaces. Here the usage line is the
 * path the user typed (`tempest generate task`), and the output is plain text with no line
 * ending in a space.
 */
export interface HelpEntry {
  name: string;
  description: string;
}

type AnyArg = { type?: string; description?: string; valueHint?: string; alias?: string | string[]; required?: boolean; default?: unknown };

export async function renderHelp(cmd: CommandDef, path: string[], extraCommands: HelpEntry[] = []): Promise<string> {
  const meta = (await resolveValue(cmd.meta)) ?? {};
  const args = ((await resolveValue(cmd.args)) ?? {}) as ArgsDef;
  const subs = (await resolveValue(cmd.subCommands)) as Record<string, unknown> | undefined;
  const entries = Object.entries(args) as [string, AnyArg][];
  const positionals = entries.filter(([, a]) => a.type === "positional");
  const options = entries.filter(([, a]) => a.type !== "positional");

  const usage = [path.join(" ")];
  if (options.length) usage.push("[options]");
  if (subs && Object.keys(subs).length) usage.push(positionals.length ? "[<command>]" : "<command>");
  for (const [name, a] of positionals) usage.push(a.required === false || a.default !== undefined ? `[${name}]` : `<${name}>`);

  const out: string[] = [];
  if (meta.description) out.push(plain(meta.description), "");
  out.push(`Usage: ${usage.join(" ")}`);

  if (positionals.length) {
    out.push("", "Arguments:", ...columns(positionals.map(([name, a]) => [name, describe(a)])));
  }
  const optionRows: [string, string][] = options.map(([name, a]) => [optionName(name, a), describe(a)]);
  optionRows.push(["-h, --help", "show this help"]);
  out.push("", "Options:", ...columns(optionRows));

  const commandRows: [string, string][] = [];
  if (subs) {
    for (const [name, load] of Object.entries(subs)) {
      const sub = typeof load === "function" ? await (load as () => Promise<CommandDef>)() : (load as CommandDef);
      const subMeta = (await resolveValue(sub?.meta)) ?? {};
      commandRows.push([name, plain(subMeta.description ?? "")]);
    }
  }
  for (const e of extraCommands) commandRows.push([e.name, plain(e.description)]);
  if (commandRows.length) {
    out.push("", "Commands:", ...columns(commandRows));
    out.push("", `Run ${path.join(" ")} <command> --help (or tempest help ${[...path.slice(1), "<command>"].join(" ")}) for a command's options.`);
  }
  return out.map((l) => l.trimEnd()).join("\n");
}

function optionName(name: string, a: AnyArg): string {
  const aliases = ([] as string[]).concat(a.alias ?? []).map((x) => (x.length === 1 ? `-${x}` : `--${x}`));
  // A boolean that is on by default is turned off with its `no-` form: that is the flag to show.
  const flag = a.type === "boolean" ? (a.default === true ? `--no-${name}` : `--${name}`) : `--${name} <${a.valueHint ?? "value"}>`;
  return [...aliases, flag].join(", ");
}

function describe(a: AnyArg): string {
  const text = plain(a.description ?? "");
  const dflt = a.default !== undefined && a.default !== false && a.type !== "boolean" ? ` (default: ${String(a.default)})` : "";
  return text + dflt;
}

/** Descriptions are written with Markdown-style `code`; a terminal shows the backticks literally. */
export function plain(text: string): string {
  return text.replaceAll("`", "");
}

function columns(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`.trimEnd());
}

async function resolveValue<T>(v: T | (() => T) | (() => Promise<T>) | Promise<T> | undefined): Promise<T | undefined> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}
