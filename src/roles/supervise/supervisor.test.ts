import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupTempDirs, tempProject, waitFor } from "../../../test/helpers/tempest.ts";
import { defineProcess } from "../../core/supervise/config.ts";
import { createLogger } from "../log.ts";
import { startSupervisor } from "./supervisor.ts";

afterAll(cleanupTempDirs);

// The agent's way in (DESIGN.md §8): a config built in code, no socket, driven through the handle.
test("startSupervisor with a config built in code: start, stop, restart, logs, reload, stop", async () => {
  const dir = tempProject({});
  const sup = await startSupervisor({
    socket: null,
    logDir: join(dir, "logs"),
    processes: [defineProcess({ name: "echo", command: "sh", args: ["-c", "echo hello $INSTANCE; exec sleep 1000"], instances: 2 }, dir)],
  }, { log: createLogger("test") });
  try {
    await waitFor(() => sup.status().every((s) => s.state === "running" && s.pid !== null), "both instances running");
    // Both instances' first lines, since the assertion reads both.
    await waitFor(() => [0, 1].every((i) => readFileSync(join(dir, `logs/echo-${i}.log`), "utf8") === `hello ${i}\n`), "both instances to write");
    expect(new TextDecoder().decode(sup.tailLogs("echo", 5))).toBe("[echo#0] hello 0\n[echo#1] hello 1\n");

    const stopped = await sup.stopProcess("echo");
    expect(stopped.map((s) => s.state)).toEqual(["stopped", "stopped"]);
    const started = await sup.startProcess("echo");
    expect(started.map((s) => s.state)).toEqual(["running", "running"]);

    const summary = await sup.reload({
      socket: null,
      logDir: join(dir, "logs"),
      processes: [defineProcess({ name: "other", command: "sleep", args: ["1000"] }, dir)],
    });
    expect(summary).toEqual({ added: ["other"], removed: ["echo"], changed: [], unchanged: [] });
    expect(sup.status().map((s) => `${s.name}#${s.instance}:${s.state}`)).toEqual(["other#0:running"]);
    await expect(sup.stopProcess("echo")).rejects.toThrow("no process named `echo`");
  } finally {
    await sup.stop();
  }
  expect(sup.status().every((s) => s.state === "stopped")).toBe(true);
});
