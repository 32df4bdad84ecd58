/** Issue 13.6: a descendant that calls setsid (and ignores SIGTERM) must not escape `tempest supervise`. */
import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { isAlive, stopAll } from "../helpers/process.ts";
import { startSupervise, stopSupervisors, superviseProject, withCmdline } from "../helpers/supervise.ts";
import { cleanupTempDirs, waitFor } from "../helpers/tempest.ts";

afterEach(async () => {
  await stopSupervisors();
  await stopAll();
});
afterAll(cleanupTempDirs);

const count = (text: string, word: string) => text.split(word).length - 1;

test("a setsid grandchild that ignores SIGTERM and holds a port: gone at restart, at SIGKILL of the supervisor and at a clean stop", async () => {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const p = superviseProject(
    `[[process]]\nname = "porter"\ncommand = "node"\nargs = ["leader.js"]\nenv = { PORT = "${port}" }\nstop_timeout_ms = 1000\nbackoff = { initial_ms = 100, max_ms = 100 }\n`,
    {
      // detached: true is setsid(2): the server leaves the group and the session.
      "leader.js": `const { spawn } = require("node:child_process");
spawn(process.execPath, [__dirname + "/server.js"], { detached: true, stdio: ["ignore", "inherit", "inherit"] });
setInterval(() => {}, 1000);
`,
      "server.js": `process.on("SIGTERM", () => {});
require("node:net").createServer().listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening " + process.pid))
  .on("error", (e) => { console.log("bind failed " + e.code); process.exit(2); });
`,
    },
  );
  const server = join(p.dir, "server.js");
  const sv = await startSupervise(p);
  await waitFor(() => count(sv.log("porter"), "listening") === 1, "the server to listen");
  const first = withCmdline(server);
  expect(first.length).toBe(1);

  // 1. restart: the old server goes before the new leader starts, so the new one binds.
  expect((await sv.ctl("restart", "porter")).code).toBe(0);
  await waitFor(() => count(sv.log("porter"), "listening") === 2 || sv.log("porter").includes("bind failed"), "a second server to listen (or fail)");
  expect(sv.log("porter")).not.toContain("bind failed");
  expect(first.filter(isAlive)).toEqual([]);

  // 2. the supervisor SIGKILLed: its watchdog finds the escaped server by its tag.
  const second = withCmdline(server);
  expect(second.length).toBe(1);
  sv.run.proc.kill("SIGKILL");
  await sv.run.exited;
  await waitFor(() => second.every((pid) => !isAlive(pid)), "the escaped server to exit after the supervisor's SIGKILL", 5_000);

  // 3. started again, then a clean stop: nothing left.
  const again = await startSupervise(p);
  await waitFor(() => count(again.log("porter"), "listening") === 3 || again.log("porter").includes("bind failed"), "a third server to listen");
  expect(again.log("porter")).not.toContain("bind failed");
  const third = withCmdline(server);
  again.run.proc.kill("SIGTERM");
  expect(await again.run.exited).toBe(0);
  expect(third.filter(isAlive)).toEqual([]);
  expect(withCmdline(server)).toEqual([]);
}, 60_000);
