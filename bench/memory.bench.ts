/**
 * Memory per in-flight message stays bounded: 1,000,000 generator messages through a one-task
 * topology with max_pending = 1000, sampling the topology process's RSS twice a second.
 *
 *   npm run build && npx bun bench/memory.bench.ts        (BENCH_COUNT=1000000 by default)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const COUNT = Number(process.env.BENCH_COUNT ?? 1_000_000);
const TEMPEST = resolve(import.meta.dir, "../dist/tempest");

const dir = mkdtempSync(join(tmpdir(), "tempest-mem-"));
writeFileSync(join(dir, "Project.toml"), `[project]\nmembers = ["p.toml"]\n`);
writeFileSync(join(dir, "p.toml"), `[project]\nname = "mem"\n\n[[topology]]\nname = "one"\ngraph = "work"\n[[topology.task]]\nname = "work"\ntype = "t.ts"\n`);
writeFileSync(join(dir, "t.ts"), `import { defineTask } from "tempest";\nexport default defineTask({ handle() {} });\n`);
writeFileSync(join(dir, "Runtime.toml"), `[topology.one.message]\nmax_pending = 1000\n\n[topology.one.source]\ntype = "generator"\ncount = ${COUNT}\nsize = 100\n`);

const run = Bun.spawn([TEMPEST, "run", "one"], { cwd: dir, stdout: "pipe", stderr: "ignore" });
const samples: Array<{ t: number; rssMb: number }> = [];
const t0 = performance.now();
let topologyPid = 0;
const timer = setInterval(() => {
  topologyPid ||= findChild(run.pid, " topology ");
  if (!topologyPid) return;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${topologyPid}/status`, "utf8"))?.[1]);
    samples.push({ t: (performance.now() - t0) / 1000, rssMb: kb / 1024 });
  } catch {
    // exited
  }
}, 500);
const out = await new Response(run.stdout).text();
await run.exited;
clearInterval(timer);
rmSync(dir, { recursive: true, force: true });

console.log(out.trim());
const steady = samples.filter((s) => s.t > 2);
const first = steady[0] ?? samples[0];
const peak = samples.reduce((m, s) => Math.max(m, s.rssMb), 0);
const last = samples.at(-1);
console.log(`topology RSS: ${first?.rssMb.toFixed(1)} MB at ${first?.t.toFixed(1)} s, peak ${peak.toFixed(1)} MB, last ${last?.rssMb.toFixed(1)} MB at ${last?.t.toFixed(1)} s (${samples.length} samples)`);
const quarter = Math.floor(steady.length / 4);
const avg = (xs: typeof steady) => xs.reduce((n, s) => n + s.rssMb, 0) / Math.max(1, xs.length);
console.log(`mean RSS, first quarter of the run ${avg(steady.slice(0, quarter)).toFixed(1)} MB vs last quarter ${avg(steady.slice(-quarter)).toFixed(1)} MB`);

function findChild(parent: number, marker: string): number {
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent && readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").includes(marker)) return Number(e);
    } catch {
      // gone
    }
  }
  return 0;
}
