import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanupTempDirs, tempProject } from "../../../test/helpers/tempest.ts";
import { formatProblem } from "../errors.ts";
import { loadSuperviseConfig } from "./load.ts";

afterAll(cleanupTempDirs);

const env = { HOME: "/home/u", TEMPEST_HOME: "/srv/tempest" };

function load(toml: string) {
  const dir = tempProject({ "supervise.toml": toml });
  const r = loadSuperviseConfig(join(dir, "supervise.toml"), env);
  return { ...r, dir, lines: r.problems.map((p) => formatProblem({ ...p, file: "supervise.toml" })) };
}

test("the issue's example loads with every field, relative paths from the file's folder", () => {
  const { config, problems, dir } = load(`[supervise]
socket = "run.sock"
log_dir = "logs"

[[process]]
name = "poller"
command = "node"
args = ["poller.js"]
cwd = "."
env = { LEVEL = "info" }
instances = 2
restart = "on-failure"
success_codes = [0]
backoff = { initial_ms = 100, max_ms = 30000, factor = 2, reset_after_ms = 60000 }
limit = { restarts = 10, window_ms = 60000 }
stop_signal = "SIGTERM"
stop_timeout_ms = 10000
log = { max_bytes = 10485760, keep = 5 }
`);
  expect(problems).toEqual([]);
  expect(config).toEqual({
    socket: join(dir, "run.sock"),
    logDir: join(dir, "logs"),
    processes: [{
      name: "poller", command: "node", args: ["poller.js"], cwd: dir, env: { LEVEL: "info" }, instances: 2,
      restart: "on-failure", successCodes: [0],
      backoff: { initialMs: 100, maxMs: 30000, factor: 2, resetAfterMs: 60000 },
      limit: { restarts: 10, windowMs: 60000 }, stopSignal: "SIGTERM", stopTimeoutMs: 10000,
      log: { maxBytes: 10485760, keep: 5, timestamps: false },
    }],
  });
});

test("defaults: socket and logs under TEMPEST_HOME; partial tables keep the other defaults", () => {
  const { config } = load(`[[process]]\nname = "w"\ncommand = "sleep"\nbackoff = { max_ms = 500 }\nstop_signal = "int"\n`);
  expect(config?.socket).toBe("/srv/tempest/run/supervise.sock");
  expect(config?.logDir).toBe("/srv/tempest/logs");
  expect(config?.processes[0]).toMatchObject({ instances: 1, restart: "always", backoff: { initialMs: 100, maxMs: 500, factor: 2 }, stopSignal: "SIGINT" });
});

test("an unknown key names its line and suggests the right one", () => {
  const { config, lines } = load(`[[process]]\nname = "w"\ncommand = "sleep"\nstop_timeot_ms = 5\n`);
  expect(config).toBeUndefined();
  expect(lines).toEqual(["supervise.toml:4:1: unknown key `stop_timeot_ms` in [process.0] — did you mean `stop_timeout_ms`?"]);
});

test("a negative timeout, inside an inline table too", () => {
  const { lines } = load(`[[process]]\nname = "w"\ncommand = "sleep"\nstop_timeout_ms = -5\nbackoff = { initial_ms = -1 }\n`);
  expect(lines).toEqual([
    "supervise.toml:4:1: `process.0.stop_timeout_ms` must be at least 0, got -5 — write a number without quotes, e.g. `stop_timeout_ms = 5000`",
    "supervise.toml:5:1: `process.0.backoff.initial_ms` must be at least 0, got -1 — write a number without quotes, e.g. `initial_ms = 5000`",
  ]);
});

test("missing name and command, a duplicate, a bad signal, a cap below the start", () => {
  const { lines } = load(`[[process]]
command = "a"

[[process]]
name = "x"

[[process]]
name = "y"
command = "b"
stop_signal = "SIGFOO"

[[process]]
name = "y"
command = "c"

[[process]]
name = "z"
command = "d"
backoff = { initial_ms = 5000, max_ms = 100 }
`);
  expect(lines).toEqual([
    'supervise.toml:1:1: this [[process]] has no `name` — add `name = "worker"`',
    "supervise.toml:4:1: process `x` has no `command` — add `command = \"node\"` (the program; its arguments go in `args`)",
    'supervise.toml:10:1: `stop_signal` "SIGFOO" is not a signal — e.g. `stop_signal = "SIGTERM"` or "SIGINT"',
    "supervise.toml:13:1: process `y` is defined twice — names are unique: rename one of them (the other is entry 3)",
    "supervise.toml:19:1: backoff max_ms (100) is below initial_ms (5000) — max_ms caps the delay: make it at least initial_ms",
  ]);
});

test("a socket in a folder that does not exist is fine (the supervisor creates it); one under a file is not", () => {
  expect(load(`[supervise]\nsocket = "/nonexistent/dir/s.sock"\n\n[[process]]\nname = "w"\ncommand = "x"\n`).lines).toEqual([]);
  const { lines } = load(`[supervise]\nsocket = "supervise.toml/dir/s.sock"\n\n[[process]]\nname = "w"\ncommand = "x"\n`);
  expect(lines.map((l) => l.replace(/ \/\S*\/supervise\.toml/g, " …/supervise.toml"))).toEqual(["supervise.toml:2:1: the socket's folder …/supervise.toml/dir cannot be created: …/supervise.toml is not a folder — point `socket` at a path under a folder"]);
});

test("[process] written with one bracket", () => {
  const { lines } = load(`[process]\nname = "w"\ncommand = "x"\n`);
  expect(lines).toEqual(["supervise.toml:1:1: `process` must be a list of entries — write each entry as a [[process]] table (two brackets)"]);
});

test("a TOML syntax error and a missing file", () => {
  expect(load(`[[process]]\nname = "w\n`).lines[0]).toMatch(/^supervise\.toml:2:\d+: unterminated string in `name`/);
  expect(loadSuperviseConfig("/nonexistent/supervise.toml", env).problems[0]?.message).toBe("config file not found");
});

test("no processes is a warning, not an error", () => {
  const { config, problems } = load(`[supervise]\nlog_dir = "/tmp"\n`);
  expect(config?.processes).toEqual([]);
  expect(problems.map((p) => p.severity)).toEqual(["warning"]);
});
