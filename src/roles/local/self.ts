/**
 * How to start this same program again: the compiled binary is `process.execPath` alone;
 * from source it is `bun src/cli.ts` (BUN-NOTES: argv[1] is /$bunfs/… when compiled).
 */
export function selfCommand(): string[] {
  const script = process.argv[1] ?? "";
  return script.startsWith("/$bunfs/") || script === "" ? [process.execPath] : [process.execPath, script];
}
