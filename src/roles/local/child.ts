import type { Subprocess } from "bun";
import { logTimestamps, timestamp } from "../log.ts";

/** A child process of `tempest run`, its output forwarded line by line with its tag. */
export interface Child {
  name: string;
  proc: Subprocess<"ignore" | "inherit", "pipe", "pipe">;
  exited: Promise<number>;
  /** The last lines it wrote to stderr, for error messages. */
  tail: string[];
}

export function spawnChild(name: string, argv: string[], opts: { env: Record<string, string | undefined>; stdin: "ignore" | "inherit"; onLine?: (line: string) => void }): Child {
  // With timestamps on, the forwarder stamps each line once: the child must not stamp its own.
  const stamp = logTimestamps();
  const proc = Bun.spawn(argv, {
    env: stamp ? { ...opts.env, TEMPEST_LOG_TIMESTAMPS: "0" } : opts.env,
    stdin: opts.stdin,
    stdout: "pipe",
    stderr: "pipe",
    // Its own process group: a terminal's Ctrl-C reaches only `tempest run`, which then stops
    // the topology first and the tasks after it, and can signal each whole group.
    detached: true,
  });
  const child: Child = { name, proc, exited: proc.exited, tail: [] };
  void forward(proc.stdout, process.stdout, name, stamp, () => {});
  void forward(proc.stderr, process.stderr, name, stamp, (line) => {
    child.tail.push(line);
    if (child.tail.length > 20) child.tail.shift();
    opts.onLine?.(line);
  });
  return child;
}

async function forward(stream: ReadableStream<Uint8Array>, to: NodeJS.WriteStream, tag: string, stamp: boolean, onLine: (l: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  const prefix = `[${tag}] `;
  const emit = (line: string) => {
    onLine(line);
    to.write(`${stamp ? timestamp() : ""}${line.startsWith(prefix) ? line : `${prefix}${line}`}\n`);
  };
  for await (const chunk of stream) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) emit(l);
  }
  if (partial) emit(partial);
}

/** Signals the child's whole process group; ignores a group that is already gone. */
export function signalGroup(child: Child, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.proc.pid, signal);
  } catch {
    // already exited
  }
}
