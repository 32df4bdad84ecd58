/**
 * Run by `npm test` before the suite. The integration tests start real redis-servers, the
 * dashboard test drives Debian's chromium with playwright-core, and the /metrics test checks the
 * text with promtool (Debian's prometheus package). What is missing is installed from Debian's
 * packages (as root), or the run stops at once with one line saying how: never a silent skip.
 */
const NEEDED = [
  { command: "redis-server", pkg: "redis-server", why: "the integration tests start real redis-servers" },
  { command: "chromium", pkg: "chromium", why: "the dashboard test drives a headless browser" },
  { command: "promtool", pkg: "prometheus", why: "the /metrics test checks the Prometheus text" },
];

const has = (command: string) => Bun.spawnSync(["sh", "-c", `command -v ${command}`]).exitCode === 0;
const missing = NEEDED.filter((n) => !has(n.command));

if (missing.length) {
  const root = process.getuid?.() === 0;
  const apt = has("apt-get");
  const pkgs = missing.map((m) => m.pkg).join(" ");
  if (!root || !apt) {
    for (const m of missing) console.error(`${m.command} is missing: ${m.why}.`);
    console.error(`Install ${pkgs} (e.g. \`sudo apt-get install -y --no-install-recommends ${pkgs}\`) and run again.`);
    process.exit(1);
  }
  console.error(`installing ${pkgs} with apt-get (Debian packages) …`);
  for (const cmd of ["apt-get update -qq", `DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${pkgs} >/dev/null`]) {
    const r = Bun.spawnSync(["sh", "-c", cmd], { stdout: "inherit", stderr: "inherit" });
    if (r.exitCode !== 0) {
      console.error(`\`${cmd}\` failed; install ${pkgs} by hand and run again.`);
      process.exit(1);
    }
  }
  const still = missing.filter((m) => !has(m.command));
  if (still.length) {
    console.error(`${still.map((m) => m.command).join(", ")} still missing after apt-get install; install by hand and run again.`);
    process.exit(1);
  }
  // The Debian packages may start system services (redis on 6379); the tests use their own servers.
  console.error(`${pkgs} installed.`);
}
