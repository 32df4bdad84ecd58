/**
 * Children of `tempest run` must not outlive it, even when it is SIGKILLed (no signal reaches
 * them then). Each child learns its parent's pid from TEMPEST_PARENT_PID and checks five times a
 * second that the parent is still there; when it is gone, `onOrphaned` runs.
 */
/** An orphan gets this long to stop gracefully before it exits anyway. */
export const ORPHAN_EXIT_MS = 500;

export function watchParent(onOrphaned: () => void): void {
  const expected = Number(process.env.TEMPEST_PARENT_PID);
  if (!expected) return;
  const timer = setInterval(() => {
    if (process.ppid !== expected) {
      clearInterval(timer);
      onOrphaned();
    }
  }, 200);
  timer.unref();
}
