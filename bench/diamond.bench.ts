/**
 * Root messages per second through the diamond (A → B, C → D) in local mode, generator source,
 * against a baseline measured in the same run: one-hop TCP round trips of batched CBOR frames
 * between two Bun processes (what every delivery costs at least). Two cases: the default (the
 * four tasks in one fused worker) and every task in processes of its own (`isolate = true`:
 * what batching alone buys). With OLD_TEMPEST=<an older build of tempest>, the isolated case
 * runs on it too, in the same run (it ignores `isolate`).
 *
 *   npm run build && npx bun bench/diamond.bench.ts        (BENCH_COUNT=100000 by default)
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "node:net";
import { encodeCbor } from "../src/codec/index.ts";
import { FramedConnection } from "../src/roles/connection.ts";

const COUNT = Number(process.env.BENCH_COUNT ?? 100_000);
const TEMPEST = resolve(import.meta.dir, "../dist/tempest");

async function baseline(n: number): Promise<number> {
  const peer = Bun.spawn(["bun", resolve(import.meta.dir, "_echo-peer.ts")], { stdout: "pipe", stderr: "inherit" });
  try {
    const reader = peer.stdout.getReader();
    const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise((r) => socket.once("connect", r));
    const conn = new FramedConnection(socket);
    const msg = encodeCbor({ seq: 1, data: "x".repeat(64) });
    const window = 1000;
    let sent = 0;
    let answered = 0;
    const t0 = performance.now();
    await new Promise<void>((done) => {
      const sendMore = () => {
        while (sent < n && sent - answered < window) {
          conn.send({ type: "deliver", delivery: ++sent, topology_id: "b", msg_id: String(sent), edge: ["$source", "A"], attempt: 1, msg });
        }
      };
      socket.on("data", (chunk: Buffer) => {
        answered += conn.decode(chunk).length;
        if (answered >= n) done();
        else sendMore();
      });
      sendMore();
    });
    const rate = n / ((performance.now() - t0) / 1000);
    socket.destroy();
    return rate;
  } finally {
    peer.kill("SIGKILL");
  }
}

async function diamond(n: number, opts: { isolate?: boolean; binary?: string } = {}): Promise<{ rate: number; summary: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tempest-bench-"));
  try {
    const task = `import { defineTask } from "tempest";\nexport default defineTask({ handle(msg) { return msg; } });\n`;
    const files: Record<string, string> = {
      "Project.toml": `[project]\nmembers = ["p.toml"]\n`,
      "p.toml": `[project]\nname = "bench"\n\n[[topology]]\nname = "diamond"\ngraph = "A --> B; A --> C; B --> D; C --> D;"\n` +
        ["A", "B", "C", "D"].map((t) => `[[topology.task]]\nname = "${t}"\ntype = "t.ts"\n`).join(""),
      "t.ts": task,
      "Runtime.toml": `[topology.diamond.source]\ntype = "generator"\ncount = ${n}\nsize = 64\n` +
        (opts.isolate ? ["A", "B", "C", "D"].map((t) => `\n[topology.diamond.task.${t}]\nisolate = true\n`).join("") : ""),
    };
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(dir, f, ".."), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    const t0 = performance.now();
    const r = Bun.spawnSync([opts.binary ?? TEMPEST, "run", "diamond"], { cwd: dir, stderr: "pipe" });
    const wall = (performance.now() - t0) / 1000;
    const out = r.stdout.toString();
    const m = /\((\d+) messages\/s\)/.exec(out);
    if (r.exitCode !== 0 || !m) throw new Error(`tempest run failed: ${r.stderr.toString().slice(-2000)}`);
    return { rate: Number(m[1]), summary: `${out.trim()}\nwall time of \`tempest run\` including start-up and shutdown: ${wall.toFixed(2)} s (${Math.round(n / wall)} root messages/s)` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const base = await baseline(COUNT);
const fused = await diamond(COUNT);
const isolated = await diamond(COUNT, { isolate: true });
const old = process.env.OLD_TEMPEST ? await diamond(COUNT, { binary: process.env.OLD_TEMPEST }) : null;
console.log(fused.summary);
const x = (r: number) => `${(r / base).toFixed(3)} x baseline`;
console.log(`baseline: one-hop TCP round trips, batched CBOR frames: ${Math.round(base)}/s`);
console.log(`diamond, ${COUNT} roots, one fused worker (the default):     ${fused.rate}/s  (${x(fused.rate)}; one delivery per root)`);
console.log(`diamond, ${COUNT} roots, every task isolated (4 processes):  ${isolated.rate}/s  (${x(isolated.rate)}; 5 deliveries per root: D, a union, gets one from B and one from C)`);
if (old) console.log(`diamond, ${COUNT} roots, ${process.env.OLD_TEMPEST} (one process per task): ${old.rate}/s  (${x(old.rate)}); isolated now / then: ${(isolated.rate / old.rate).toFixed(2)}`);
