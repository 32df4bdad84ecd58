import { describe, expect, test } from "bun:test";
import { runTempest } from "../helpers/tempest.ts";

/** The subcommands a help text lists under "Commands:". */
function commandsOf(help: string): string[] {
  const at = help.indexOf("\nCommands:\n");
  if (at < 0) return [];
  const names: string[] = [];
  for (const line of help.slice(at + "\nCommands:\n".length).split("\n")) {
    const m = /^ {2}(\S+)/.exec(line);
    if (!m) break;
    names.push(m[1] as string);
  }
  return names;
}

describe("help of every command", () => {
  test("each command's --help: exit 0, its own usage line, plain text, no trailing spaces; tempest help <cmd> says the same", async () => {
    const seen: string[] = [];
    const queue: string[][] = [[]];
    while (queue.length) {
      const path = queue.shift() as string[];
      // help and version are not command groups: their own tests are below.
      const r = await runTempest([...path, "--help"]);
      const where = `tempest ${[...path, "--help"].join(" ")}`;
      expect({ where, code: r.code, stderr: r.stderr }).toEqual({ where, code: 0, stderr: "" });
      const usage = r.stdout.split("\n").find((l) => l.startsWith("Usage: "));
      expect({ where, usage: usage?.split(" ").slice(1, path.length + 2).join(" ") }).toEqual({ where, usage: ["tempest", ...path].join(" ") });
      // No doubled word like `generate generate task`.
      expect({ where, doubled: /\b(\w+) \1\b/.test(usage ?? "") }).toEqual({ where, doubled: false });
      expect({ where, backticks: r.stdout.includes("`") }).toEqual({ where, backticks: false });
      expect({ where, trailing: r.stdout.split("\n").filter((l) => l !== l.trimEnd()) }).toEqual({ where, trailing: [] });
      if (path.length) {
        const viaHelp = await runTempest(["help", ...path]);
        expect({ where, code: viaHelp.code, stdout: viaHelp.stdout }).toEqual({ where, code: 0, stdout: r.stdout });
      }
      seen.push(path.join(" "));
      for (const sub of commandsOf(r.stdout)) if (sub !== "help" && sub !== "version") queue.push([...path, sub]);
    }
    for (const must of ["new", "generate task", "generate topology", "check", "run", "build", "deploy", "start", "stop", "logs", "status", "director", "agent", "supervise status", "home init", "topology", "task"]) {
      expect(seen).toContain(must);
    }
  }, 120_000);

  test("tempest help and tempest version", async () => {
    const help = await runTempest(["help"]);
    expect(help.code).toBe(0);
    expect(commandsOf(help.stdout)).toContain("version");
    const version = await runTempest(["version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    expect((await runTempest(["--version"])).stdout).toBe(version.stdout);
  });

  test("a mistyped command suggests the right one and exits 2, with --help too", async () => {
    const typo = await runTempest(["chek"]);
    expect(typo).toEqual({ code: 2, stdout: "", stderr: "error: unknown command `chek` — did you mean `check`? run `tempest --help` for the commands\n" });
    const group = await runTempest(["director2", "--help"]);
    expect(group.code).toBe(2);
    expect(group.stdout).toBe("");
    expect(group.stderr).toContain("unknown command `director2` — did you mean `director`?");
    const nested = await runTempest(["supervise", "stauts"]);
    expect(nested.code).toBe(2);
    expect(nested.stderr).toContain("unknown command `supervise stauts` — did you mean `status`?");
  });
});
