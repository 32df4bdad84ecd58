/**
 * Run by `npm test` before the suite: the integration tests start real redis-servers. When the
 * binary is missing it is installed from Debian's packages (as root), or the run stops at once
 * with one line saying how: never a silent skip.
 */
const has = () => Bun.spawnSync(["sh", "-c", "command -v redis-server"]).exitCode === 0;

if (!has()) {
  const root = process.getuid?.() === 0;
  const apt = Bun.spawnSync(["sh", "-c", "command -v apt-get"]).exitCode === 0;
  if (!root || !apt) {
    console.error("redis-server is missing: the tests need it. Install it (e.g. `sudo apt-get install -y redis-server`) and run again.");
    process.exit(1);
  }
  console.error("redis-server is missing: installing it with apt-get (Debian package redis-server) …");
  for (const cmd of ["apt-get update -qq", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null"]) {
    const r = Bun.spawnSync(["sh", "-c", cmd], { stdout: "inherit", stderr: "inherit" });
    if (r.exitCode !== 0) {
      console.error(`\`${cmd}\` failed; install redis-server by hand and run again.`);
      process.exit(1);
    }
  }
  if (!has()) {
    console.error("redis-server is still missing after apt-get install; install it by hand and run again.");
    process.exit(1);
  }
  // The Debian package starts a system redis on 6379; the tests use their own servers.
  console.error("redis-server installed.");
}
