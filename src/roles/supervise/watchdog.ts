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
while read -r op g s t; do
  case "$op" in
    add) groups="$groups $g:$s:$t" ;;
    del) kept=''; for e in $groups; do [ "\${e%%:*}" = "$g" ] || kept="$kept $e"; done; groups=$kept ;;
  esac
done
cleanup() { [ -z "$TEMPEST_WATCHDOG_RMDIR" ] || rm -rf -- "$TEMPEST_WATCHDOG_RMDIR"; }
[ -n "$groups" ] || { cleanup; exit 0; }
# Descendants that left their group (setsid) still carry their instance's tag in environ.
tagged() { t=\${1##*:}; [ -n "$t" ] || return 0; grep -l -a "TEMPEST_SUPERVISE_TAG_$t=" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$$"; }
hit() { sig=$1; e=$2; kill -"$sig" -"\${e%%:*}" 2>/dev/null; for p in $(tagged "$e"); do kill -"$sig" "$p" 2>/dev/null; done; }
for e in $groups; do s=\${e#*:}; hit "\${s%%:*}" "$e"; done
n=0
while [ $n -lt 20 ]; do
  sleep 0.1
  left=''
  for e in $groups; do
    if kill -0 -"\${e%%:*}" 2>/dev/null || [ -n "$(tagged "$e")" ]; then left="$left $e"; fi
  done
  [ -n "$left" ] || { cleanup; exit 0; }
  groups=$left
  n=$((n+1))
done
for e in $groups; do hit 9 "$e"; done
cleanup
`;

export interface Watchdog {
  /** A new group to clean up should the supervisor die. */
  add(pgid: number, stopSignal: string, tag?: string): void;
  /** The group is gone (swept): never signal that number again. */
  remove(pgid: number): void;
  /** A clean exit: the list should be empty by now. */
  close(): void;
  readonly pid: number;
}

/** Starts the watchdog; if it is ever killed, a new one takes over the list. */
export function startWatchdog(onRestart: (why: string) => void = () => {}, opts: { removeOnDeath?: string } = {}): Watchdog {
  const groups = new Map<number, string>();
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
      for (const [pgid, rest] of groups) send(`add ${pgid} ${rest}`);
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
    add: (pgid, stopSignal, tag = "") => {
      const sig = constants.signals[stopSignal as keyof typeof constants.signals] ?? constants.signals.SIGTERM;
      groups.set(pgid, `${sig} ${tag}`);
      send(`add ${pgid} ${sig} ${tag}`);
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
