/**
 * The one policy for stop signals (DESIGN.md §1): the first SIGTERM or SIGINT asks the role to
 * stop gracefully (`onStop`); a second one means "now": `forced` resolves with 130, the role
 * returns it at once, and the entry point exits with it (no role calls process.exit).
 */
export function onStopSignal(onStop: (signal: string) => void): { forced: Promise<number> } {
  let stopping = false;
  let force!: (code: number) => void;
  const forced = new Promise<number>((r) => (force = r));
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      if (stopping) return force(130);
      stopping = true;
      onStop(sig);
    });
  }
  return { forced };
}
