/**
 * `tempest run` on a throwaway diamond project (A → B, A → C, B → D, C → D), generator source,
 * for bench/bullmq.bench.ts and bench/latency.bench.ts. Private to bench/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TopologySummary } from "../src/roles/topology/summary.ts";

const TEMPEST = resolve(import.meta.dir, "../dist/tempest");
const TASKS = ["A", "B", "C", "D"] as const;

export interface DiamondOptions {
  /** Root messages the generator makes. */
  count: number;
  /** At most this many per second (0 or absent: as fast as the pipeline takes them). */
  rate?: number;
  /** Each message's `data` in bytes. */
  size?: number;
  /** D's join: "all" waits for B and C and gets `{ B: [...], C: [...] }`; union gets each alone. */
  join?: "all" | "union";
  /** Each task's `defineTask({...})` body; absent: pass-through (`handle(msg) { return msg; }`). */
  handlers?: Partial<Record<(typeof TASKS)[number], string>>;
  /** Extra arguments to `tempest run`, e.g. `["--port", "4100"]`. */
  args?: string[];
  /** Called once `tempest run` has been started, with its process (to watch it, not to stop it). */
  started?: (run: Bun.Subprocess) => Promise<void> | void;
}

export interface DiamondResult {
  /** The `(N messages/s)` of the summary line: roots finished per second, first delivery to last ack. */
  rate: number;
  /** The summary line itself. */
  line: string;
  /** The final summary the topology process wrote (TEMPEST_RUN_SUMMARY_FILE). */
  summary: TopologySummary;
  /** Seconds of the whole `tempest run`, start-up and shutdown included. */
  wall: number;
}

/** Runs the diamond to completion. The project folder is removed and the run stopped, however this ends. */
export async function runDiamond(opts: DiamondOptions): Promise<DiamondResult> {
  const dir = mkdtempSync(join(tmpdir(), "tempest-bench-diamond-"));
  let run: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
  try {
    const summaryFile = join(dir, "summary.json");
    const task = (body: string) => `import { defineTask } from "tempest";\nexport default defineTask(${body});\n`;
    const files: Record<string, string> = {
      "Project.toml": `[project]\nmembers = ["p.toml"]\n`,
      "p.toml": `[project]\nname = "bench"\n\n[[topology]]\nname = "diamond"\ngraph = "A --> B; A --> C; B --> D; C --> D;"\n` +
        TASKS.map((t) => `[[topology.task]]\nname = "${t}"\ntype = "${t.toLowerCase()}.ts"\n${t === "D" && opts.join === "all" ? 'join = "all"\n' : ""}`).join(""),
      "Runtime.toml": `[topology.diamond.source]\ntype = "generator"\ncount = ${opts.count}\nsize = ${opts.size ?? 64}\n${opts.rate ? `rate = ${opts.rate}\n` : ""}`,
    };
    for (const t of TASKS) files[`${t.toLowerCase()}.ts`] = task(opts.handlers?.[t] ?? "{ handle(msg) { return msg; } }");
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(dir, f, ".."), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    const t0 = performance.now();
    // The topology child inherits the environment and writes its final summary (histograms too) there.
    run = Bun.spawn([TEMPEST, "run", "diamond", ...(opts.args ?? [])], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, TEMPEST_RUN_SUMMARY_FILE: summaryFile } });
    const stdout = new Response(run.stdout).text();
    const stderr = new Response(run.stderr).text();
    await opts.started?.(run);
    const code = await run.exited;
    const wall = (performance.now() - t0) / 1000;
    const out = await stdout;
    const line = out.split("\n").find((l) => /\(\d+ messages\/s\)/.test(l));
    const m = line ? /\((\d+) messages\/s\)/.exec(line) : null;
    if (code !== 0 || !line || !m) throw new Error(`tempest run exited ${code} without a summary line:\n${out.slice(-1000)}\n${(await stderr).slice(-2000)}`);
    const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as TopologySummary;
    if (summary.completed !== opts.count) throw new Error(`tempest run completed ${summary.completed} of ${opts.count} roots: ${line}`);
    return { rate: Number(m[1]), line: line.trim(), summary, wall };
  } finally {
    if (run && run.exitCode === null && run.signalCode === null) {
      // It stops the topology first, then its tasks; SIGKILL only if that hangs.
      run.kill("SIGTERM");
      const timer = setTimeout(() => run?.kill("SIGKILL"), 40_000);
      await run.exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
