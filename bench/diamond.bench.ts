/**
 * Root messages per second through the diamond (A → B, C → D) in local mode, 4 task processes,
 * generator source, against a baseline measured in the same run: one-hop TCP round trips of
 * batched CBOR frames between two Bun processes (what every delivery costs at least).
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

async function diamond(n: number): Promise<{ rate: number; summary: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tempest-bench-"));
  try {
    const task = `import { defineTask } from "tempest";\nexport default defineTask({ handle(msg) { return msg; } });\n`;
    const files: Record<string, string> = {
      "Project.toml": `[project]\nmembers = ["p.toml"]\n`,
      "p.toml": `[project]\nname = "bench"\n\n[[topology]]\nname = "diamond"\ngraph = "A --> B; A --> C; B --> D; C --> D;"\n` +
        ["A", "B", "C", "D"].map((t) => `[[topology.task]]\nname = "${t}"\ntype = "t.ts"\n`).join(""),
      "t.ts": task,
      "Runtime.toml": `[topology.diamond.source]\ntype = "generator"\ncount = ${n}\nsize = 64\n`,
    };
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(dir, f, ".."), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    const t0 = performance.now();
    const r = Bun.spawnSync([TEMPEST, "run", "diamond"], { cwd: dir, stderr: "pipe" });
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
const d = await diamond(COUNT);
console.log(d.summary);
console.log(`baseline: one-hop TCP round trips, batched CBOR frames: ${Math.round(base)}/s`);
console.log(`diamond, ${COUNT} root messages, 4 task processes:   ${d.rate}/s  (${(d.rate / base).toFixed(3)} x baseline; each root = 4 deliveries)`);
