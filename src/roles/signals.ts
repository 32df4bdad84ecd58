/** Runs `onStop` once on SIGTERM or SIGINT; a second signal exits at once. */
export function onStopSignal(onStop: (signal: string) => void): void {
  let stopping = false;
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(1);
      stopping = true;
      onStop(sig);
    });
  }
}
