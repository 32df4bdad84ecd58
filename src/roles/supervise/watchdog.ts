import { constants } from "node:os";
import type { Subprocess } from "bun";

/**
 * Supervised programs are arbitrary: they cannot be asked to watch their parent. So the
 * supervisor keeps one small `sh` beside it that holds the read end of a pipe and the list of
 * live process groups. If the supervisor dies in any way, even by SIGKILL, the kernel closes
 * the pipe; the watchdog then sends each group its stop signal, waits up to 2 s and SIGKILLs
 * what is left. On a clean exit the list is empty and it just leaves.
 * It ignores INT/TERM/HUP so that a Ctrl-C or a service stop cannot take it first.
 */
const SCRIPT = `
trap '' INT TERM HUP QUIT
groups=''
while read -r op g s; do
  case "$op" in
    add) groups="$groups $g:$s" ;;
    del) kept=''; for e in $groups; do [ "\${e%%:*}" = "$g" ] || kept="$kept $e"; done; groups=$kept ;;
  esac
done
cleanup() { [ -z "$TEMPEST_WATCHDOG_RMDIR" ] || rm -rf -- "$TEMPEST_WATCHDOG_RMDIR"; }
[ -n "$groups" ] || { cleanup; exit 0; }
for e in $groups; do kill -"\${e#*:}" -"\${e%%:*}" 2>/dev/null; done
n=0
while [ $n -lt 20 ]; do
  sleep 0.1
  left=''
  for e in $groups; do kill -0 -"\${e%%:*}" 2>/dev/null && left="$left $e"; done
  [ -n "$left" ] || { cleanup; exit 0; }
  groups=$left
  n=$((n+1))
done
for e in $groups; do kill -9 -"\${e%%:*}" 2>/dev/null; done
cleanup
`;

export interface Watchdog {
  /** A new group to clean up should the supervisor die. */
  add(pgid: number, stopSignal: string): void;
  /** The group is gone (swept): never signal that number again. */
  remove(pgid: number): void;
  /** A clean exit: the list should be empty by now. */
  close(): void;
  readonly pid: number;
}

/** Starts the watchdog; if it is ever killed, a new one takes over the list. */
export function startWatchdog(onRestart: (why: string) => void = () => {}, opts: { removeOnDeath?: string } = {}): Watchdog {
  const groups = new Map<number, number>();
  let open = true;
  let proc = spawn();

  function spawn(): Subprocess<"pipe", "ignore", "ignore"> {
    const p = Bun.spawn(["sh", "-c", SCRIPT], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "ignore",
      env: { ...process.env, TEMPEST_WATCHDOG_RMDIR: opts.removeOnDeath ?? "" },
      // Its own group: a terminal's Ctrl-C goes to the supervisor's group only.
      detached: true,
    });
    p.unref();
    void p.exited.then(() => {
      if (!open || proc !== p) return;
      onRestart(`the watchdog (pid ${p.pid}) exited; starting another`);
      proc = spawn();
      for (const [pgid, sig] of groups) send(`add ${pgid} ${sig}`);
    });
    return p;
  }

  function send(line: string): void {
    if (!open) return;
    try {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    } catch {
      // it just died: its successor gets the whole list
    }
  }

  return {
    get pid() {
      return proc.pid;
    },
    add: (pgid, stopSignal) => {
      const sig = constants.signals[stopSignal as keyof typeof constants.signals] ?? constants.signals.SIGTERM;
      groups.set(pgid, sig);
      send(`add ${pgid} ${sig}`);
    },
    remove: (pgid) => {
      groups.delete(pgid);
      send(`del ${pgid}`);
    },
    close: () => {
      if (!open) return;
      open = false;
      try {
        void proc.stdin.end();
      } catch {
        // already gone
      }
    },
  };
}
