import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { childPids, isAlive, startTempest, stopAll } from "../helpers/process.ts";
import { groupMembers, startSupervise, stopSupervisors, superviseProject, supervisedToml, withCmdline } from "../helpers/supervise.ts";
import { cleanupTempDirs, runTempest, tempProject, waitFor } from "../helpers/tempest.ts";

const extraPids: number[] = [];
afterEach(async () => {
  await stopSupervisors();
  await stopAll();
  for (const pid of extraPids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
afterAll(cleanupTempDirs);

/** A `[[process]]` running `sh -c SCRIPT` (a TOML literal string: no single quotes inside). */
const sh = (name: string, script: string, extra = "") => `[[process]]\nname = "${name}"\ncommand = "sh"\nargs = ["-c", '${script}']\n${extra}\n\n`;
const LOOP = "while :; do sleep 0.2; done";
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe("tempest supervise: a process is kept running", () => {
  test("a looping program: running, pid shown, restarts 0, uptime growing", async () => {
    const sv = await startSupervise(superviseProject(sh("loop", LOOP)));
    const a = await sv.waitState("loop", "running");
    expect(a.pid).toBeGreaterThan(0);
    expect(isAlive(a.pid as number)).toBe(true);
    expect(a.restarts).toBe(0);
    const b = await waitFor(async () => {
      const r = await sv.row("loop");
      return (r.uptime_ms as number) >= (a.uptime_ms as number) + 1000 ? r : null;
    }, "uptime to grow by a second");
    expect(b.pid).toBe(a.pid);
    expect(statSync(sv.socket).mode & 0o777).toBe(0o600);
    const text = await sv.ctl("status");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^loop +0 +running +${a.pid} +\\d+s +0 +- +- +[\\d.]+ MB$`, "m"));
  });

  test("exit 1 at once, backoff 100 ms ×2 capped at 1 s: gaps ≈ 0.1, 0.2, 0.4, 0.8, 1, 1 s; then fatal, and start resets it", async () => {
    const sv = await startSupervise(superviseProject(sh("crash", "date +%s%N; exit 1", `backoff = { initial_ms = 100, max_ms = 1000, factor = 2 }\nlimit = { restarts = 6, window_ms = 60000 }`)));
    let sawBackoff = false;
    const fatal = await waitFor(async () => {
      const r = await sv.row("crash");
      if (r.state === "backoff" && (r.next_retry_ms as number) > 0 && r.pid === null) sawBackoff = true;
      return r.state === "fatal" ? r : null;
    }, "crash to be fatal", 15_000);
    expect(sawBackoff).toBe(true);
    expect(fatal).toMatchObject({ restarts: 6, pid: null, last_exit: { code: 1, signal: null }, reason: "7 crashes within 60 s (limit 6); last: exited with code 1" });
    const starts = sv.log("crash").trim().split("\n").map((ns) => Number(BigInt(ns) / 1000n) / 1000);
    expect(starts.length).toBe(7);
    const gaps = starts.slice(1).map((t, i) => Math.round(t - (starts[i] as number)));
    console.log(`backoff gaps (ms), nominal 100 200 400 800 1000 1000: ${gaps.join(" ")}`);
    const nominal = [100, 200, 400, 800, 1000, 1000];
    gaps.forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual((nominal[i] as number) * 0.9 - 5); // jitter takes at most 10% off
      expect(g).toBeLessThan((nominal[i] as number) + 250);
    });
    // Fatal stays fatal: nothing restarts it by itself (a retry would come within 1 s).
    await Bun.sleep(1500);
    expect((await sv.row("crash")).state).toBe("fatal");
    expect(count(sv.log("crash"), "\n")).toBe(7);
    const started = await sv.ctl("start", "crash", "--json");
    expect(started.code).toBe(0);
    const row = JSON.parse(started.stdout)[0];
    expect(row.restarts).toBe(0);
    expect(["running", "backoff"]).toContain(row.state);
    await waitFor(() => count(sv.log("crash"), "\n") >= 9, "crash to run again, and be restarted");
    expect((await sv.row("crash")).restarts).toBeGreaterThanOrEqual(1);
  }, 30_000);

  test("on-failure: exit 0 stays exited, a success code is not restarted, SIGSEGV and SIGKILL are", async () => {
    const common = `restart = "on-failure"\nbackoff = { initial_ms = 100, max_ms = 100 }\nlimit = { restarts = 100, window_ms = 60000 }`;
    const sv = await startSupervise(superviseProject([
      sh("zero", "echo start; exit 0", common),
      sh("three", "echo start; exit 3", `${common}\nsuccess_codes = [0, 3]`),
      sh("four", "echo start; exit 4", `${common}\nsuccess_codes = [0, 3]`),
      sh("segv", "echo start; kill -SEGV $$", common),
      sh("killed", "echo start; kill -KILL $$", common),
    ].join("")));
    await waitFor(() => ["four", "segv", "killed"].every((n) => count(sv.log(n), "start") >= 3), "the failing ones to be restarted twice");
    expect(await sv.row("zero")).toMatchObject({ state: "exited", restarts: 0, last_exit: { code: 0, signal: null } });
    expect(await sv.row("three")).toMatchObject({ state: "exited", restarts: 0, last_exit: { code: 3, signal: null } });
    expect(count(sv.log("zero"), "start")).toBe(1);
    expect(count(sv.log("three"), "start")).toBe(1);
    expect((await sv.row("four")).restarts).toBeGreaterThanOrEqual(2);
    expect((await sv.row("segv")).last_exit).toEqual({ code: null, signal: "SIGSEGV" });
    expect((await sv.row("killed")).last_exit).toEqual({ code: null, signal: "SIGKILL" });
    const text = (await sv.ctl("status")).stdout;
    expect(text).toMatch(/^zero +0 +exited .* code 0 .* exited with code 0$/m);
  });

  test("instances = 3: three pids with INSTANCE 0, 1, 2, the configured cwd and env", async () => {
    const p = superviseProject(sh("trio", 'echo "i=$INSTANCE cwd=$(pwd) level=$LEVEL"; exec sleep 1000', `cwd = "work"\nenv = { LEVEL = "debug" }\ninstances = 3`), { "work/.keep": "" });
    const sv = await startSupervise(p);
    await waitFor(async () => (await sv.status()).filter((r) => r.state === "running").length === 3, "three instances running");
    const rows = await sv.status();
    expect(new Set(rows.map((r) => r.pid)).size).toBe(3);
    for (const r of rows) {
      await waitFor(() => sv.log("trio", r.instance).includes("\n"), `trio#${r.instance} to write`);
      expect(sv.log("trio", r.instance)).toBe(`i=${r.instance} cwd=${join(p.dir, "work")} level=debug\n`);
      expect(readlinkSync(`/proc/${r.pid}/cwd`)).toBe(join(p.dir, "work"));
      expect(readFileSync(`/proc/${r.pid}/environ`, "utf8").split("\0")).toContain(`INSTANCE=${r.instance}`);
    }
  });
});

describe("tempest supervise: stopping", () => {
  test("SIGTERM trapped for 2 s: stop takes ≈ 2 s without SIGKILL; SIGTERM ignored, stop_timeout 3 s: SIGKILL at ≈ 3 s; commands are serialized", async () => {
    const sv = await startSupervise(superviseProject(
      sh("graceful", 'trap "sleep 2; exit 0" TERM; while :; do sleep 0.1; done', "stop_timeout_ms = 10000") +
      sh("stubborn", 'trap "" TERM; while :; do sleep 0.1; done', "stop_timeout_ms = 3000"),
    ));
    await sv.waitState("graceful", "running");
    await sv.waitState("stubborn", "running");
    const timed = async (name: string) => {
      const t0 = performance.now();
      const r = await sv.ctl("stop", name, "--json");
      return { r, ms: Math.round(performance.now() - t0) };
    };
    const [g, s] = await Promise.all([timed("graceful"), timed("stubborn")]);
    console.log(`stop: trapping program ${g.ms} ms (expected ≈ 2000); SIGTERM-ignoring program ${s.ms} ms (expected ≈ 3000)`);
    expect(g.r.code).toBe(0);
    expect(JSON.parse(g.r.stdout)[0]).toMatchObject({ state: "stopped", last_exit: { code: 0, signal: null } });
    expect(g.ms).toBeGreaterThan(1900);
    expect(g.ms).toBeLessThan(3500);
    expect(JSON.parse(s.r.stdout)[0]).toMatchObject({ state: "stopped", last_exit: { code: null, signal: "SIGKILL" } });
    expect(s.ms).toBeGreaterThan(2900);
    expect(s.ms).toBeLessThan(4500);
    expect(sv.run.stderr()).toContain("stubborn#0: stopping (still running 3000 ms after SIGTERM: SIGKILL; SIGKILL to group");
    expect(sv.run.stderr()).not.toMatch(/graceful#0.*SIGKILL/);

    // A start sent while a stop is under way waits for it: the stop still answers `stopped`
    // (not turned into a restart), then the start runs.
    await sv.ctl("start", "graceful");
    const stopping = sv.ctl("stop", "graceful", "--json");
    await sv.waitState("graceful", "stopping");
    const [stopped, started] = await Promise.all([stopping, sv.ctl("start", "graceful", "--json")]);
    expect(JSON.parse(stopped.stdout)[0]).toMatchObject({ state: "stopped", pid: null });
    expect(JSON.parse(started.stdout)[0]).toMatchObject({ state: "running", restarts: 0 });
    const log = sv.run.stderr();
    expect(log.lastIndexOf("graceful#0: stopping → stopped")).toBeLessThan(log.lastIndexOf("graceful#0: stopped → running"));
  }, 30_000);

  test("the whole group goes: `sleep & sleep & wait` leaves nothing after stop; no zombies; a stopped process stays stopped", async () => {
    const sv = await startSupervise(superviseProject(sh("fam", "sleep 1000 & sleep 1000 & wait")));
    const { pid } = await sv.waitState("fam", "running");
    await waitFor(() => groupMembers(pid as number).length === 3, "sh and its two sleeps");
    const members = groupMembers(pid as number);
    const r = await sv.ctl("stop", "fam");
    expect(r.code).toBe(0);
    expect(groupMembers(pid as number)).toEqual([]);
    expect(members.filter(isAlive)).toEqual([]);
    expect(childPids(sv.run.proc.pid).filter((c) => !isAlive(c))).toEqual([]); // no zombie children
    await Bun.sleep(600); // a restart behind our back would come after 100 ms
    expect((await sv.row("fam")).state).toBe("stopped");
  });

  test("a leader that forks a child listening on a port, then exits 1: the restarted instance binds the same port", async () => {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    const sv = await startSupervise(superviseProject(
      `[[process]]\nname = "porter"\ncommand = "node"\nargs = ["leader.js"]\nenv = { PORT = "${port}" }\nbackoff = { initial_ms = 100, max_ms = 100 }\nlimit = { restarts = 100, window_ms = 60000 }\n`,
      {
        "leader.js": `const { spawn } = require("node:child_process");
const child = spawn(process.execPath, [__dirname + "/server.js"], { stdio: ["ignore", "pipe", "inherit"] });
child.stdout.on("data", (d) => { process.stdout.write(d); if (String(d).includes("listening")) process.exit(1); });
child.on("exit", (code) => { console.log("server exited " + code); process.exit(1); });
`,
        "server.js": `require("node:net").createServer().listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening " + process.pid))
  .on("error", (e) => { console.log("bind failed " + e.code); process.exit(2); });
`,
      },
    ));
    await waitFor(() => count(sv.log("porter"), "listening") >= 3, "three successive instances to bind the port", 20_000);
    await sv.ctl("stop", "porter");
    expect(sv.log("porter")).not.toContain("bind failed");
    expect(sv.log("porter")).not.toContain("server exited");
  }, 30_000);

  test("SIGTERM to the supervisor stops every process, last entry first, and exits 0", async () => {
    const trap = (n: string) => sh(n, `trap "echo ${n} >> order.txt; exit 0" TERM; while :; do sleep 0.1; done`);
    const p = superviseProject(trap("p1") + trap("p2") + trap("p3"));
    const sv = await startSupervise(p);
    await waitFor(async () => (await sv.status()).every((r) => r.state === "running"), "all running");
    const pids = (await sv.status()).map((r) => r.pid as number);
    sv.run.proc.kill("SIGTERM");
    expect(await sv.run.exited).toBe(0);
    expect(readFileSync(join(p.dir, "order.txt"), "utf8")).toBe("p3\np2\np1\n");
    expect(pids.flatMap((pid) => groupMembers(pid))).toEqual([]);
    expect(existsSync(p.socket)).toBe(false);
  });
});

describe("tempest supervise: the supervisor dies", () => {
  test("SIGKILLed: its children are gone within 5 s; started again it runs exactly one instance of each", async () => {
    const marker = `svmk${process.pid}x${Date.now()}`;
    const p = superviseProject(
      `[[process]]\nname = "a"\ncommand = "sh"\nargs = ["-c", '${LOOP}', "${marker}-a"]\ninstances = 2\n\n` +
      `[[process]]\nname = "fam"\ncommand = "sh"\nargs = ["-c", 'sleep 1000 & sleep 1000 & wait', "${marker}-fam"]\n`,
    );
    const sv = await startSupervise(p);
    await waitFor(async () => (await sv.status()).every((r) => r.state === "running"), "all running");
    const rows = await sv.status();
    await waitFor(() => groupMembers(rows[2]?.pid as number).length === 3, "fam's sleeps");
    const everything = rows.flatMap((r) => groupMembers(r.pid as number));
    expect(everything.length).toBeGreaterThanOrEqual(5);
    // The watchdog itself killed first: the supervisor replaces it, and the new one does the job.
    process.kill(watchdogOf(sv.run.proc.pid), "SIGKILL");
    await sv.run.waitForStderr(/the watchdog \(pid \d+\) exited; starting another/);
    await waitFor(() => childPids(sv.run.proc.pid).some((pid) => isAlive(pid) && cmdline(pid).includes("groups=")), "a new watchdog");
    const t0 = performance.now();
    sv.run.proc.kill("SIGKILL");
    await sv.run.exited;
    await waitFor(() => everything.every((pid) => !isAlive(pid)), "every child and grandchild to exit", 5_000);
    console.log(`orphans gone ${Math.round(performance.now() - t0)} ms after SIGKILL of the supervisor`);

    const again = await startSupervise(p);
    await waitFor(async () => (await again.status()).every((r) => r.state === "running"), "all running again");
    expect(withCmdline(`${marker}-a`).length).toBe(2);
    expect(withCmdline(`${marker}-fam`).length).toBe(1);
  }, 30_000);

  test("SIGKILLed with its watchdog: the next supervisor stops the leftovers first, and leaves a reused pid alone", async () => {
    const marker = `svmk${process.pid}y${Date.now()}`;
    const p = superviseProject(`[[process]]\nname = "a"\ncommand = "sh"\nargs = ["-c", '${LOOP}', "${marker}"]\ninstances = 2\n`);
    const sv = await startSupervise(p);
    await waitFor(async () => (await sv.status()).every((r) => r.state === "running"), "all running");
    // Frozen first, so that it cannot replace its watchdog before it dies too.
    sv.run.proc.kill("SIGSTOP");
    process.kill(watchdogOf(sv.run.proc.pid), "SIGKILL");
    sv.run.proc.kill("SIGKILL");
    await sv.run.exited;
    const leftovers = withCmdline(marker);
    expect(leftovers.length).toBe(2); // nothing left to clean up after them now
    // An unrelated program now holds a pid the ledger names (its start time differs).
    const stranger = Bun.spawn(["sleep", "1000"]);
    extraPids.push(stranger.pid);
    const ledgerFile = `${p.socket}.pids`;
    const ledger = JSON.parse(readFileSync(ledgerFile, "utf8"));
    ledger.push({ key: "ghost#0", pid: stranger.pid, starttime: 1, stopSignal: "SIGTERM" });
    writeFileSync(ledgerFile, JSON.stringify(ledger));

    const again = await startSupervise(p);
    expect(leftovers.filter(isAlive)).toEqual([]);
    expect(isAlive(stranger.pid)).toBe(true);
    expect(again.run.stderr()).toContain(`ghost#0: pid ${stranger.pid} now belongs to another program; left alone`);
    await waitFor(async () => (await again.status()).every((r) => r.state === "running"), "all running again");
    expect(withCmdline(marker).length).toBe(2);
  }, 30_000);
});

describe("tempest supervise: output", () => {
  test("200 MB written fast: not slowed down, lines intact, disk within (keep + 1) × max_bytes; bytes pass as they are", async () => {
    const maxBytes = 20_000_000;
    const keep = 2;
    const p = superviseProject(
      `[[process]]\nname = "big"\ncommand = "node"\nargs = ["big.js", "supervised"]\nrestart = "never"\nlog = { max_bytes = ${maxBytes}, keep = ${keep} }\n\n` +
      sh("bin", "printf \"a\\377\\376b\\n\"; exec sleep 1000"),
      { "big.js": BIG_WRITER },
    );
    const baseline = (target: string, tag: string) => {
      const r = Bun.spawnSync(["sh", "-c", `node big.js ${tag} ${target}`], { cwd: p.dir });
      expect(r.exitCode).toBe(0);
      return Number(readFileSync(join(p.dir, `elapsed-${tag}`), "utf8"));
    };
    const devnull = baseline("> /dev/null", "devnull");
    const piped = baseline("| cat > /dev/null", "cat");
    const sv = await startSupervise(p);
    await sv.waitState("big", "exited", 30_000);
    const supervised = Number(readFileSync(join(p.dir, "elapsed-supervised"), "utf8"));
    const files = readdirSync(join(p.dir, "logs")).filter((f) => f.startsWith("big-0.log"));
    const disk = files.reduce((n, f) => n + statSync(join(p.dir, "logs", f)).size, 0);
    console.log(`200 MB: ${Math.round(devnull)} ms to /dev/null, ${Math.round(piped)} ms through \`| cat > /dev/null\`, ${Math.round(supervised)} ms supervised; logs on disk ${(disk / 1e6).toFixed(1)} MB in ${files.length} files (limit ${((keep + 1) * maxBytes) / 1e6} MB)`);
    // The pipe is read as fast as `cat` reads it; the margin absorbs a busy 2-core machine.
    expect(supervised).toBeLessThan(Math.max(4 * piped, devnull + 2_500));
    expect(files.sort()).toEqual(["big-0.log", "big-0.log.1", "big-0.log.2"]);
    expect(disk).toBeLessThanOrEqual((keep + 1) * maxBytes);
    // Oldest file first, every line whole and in sequence, ending with the very last one.
    const text = [`${keep}`, "1", ""].map((s) => readFileSync(join(p.dir, "logs", s ? `big-0.log.${s}` : "big-0.log"), "latin1")).join("");
    const lines = text.split("\n");
    expect(lines.pop()).toBe("");
    const first = /^c(\d{6}) l(\d{4}) /.exec(lines[0] as string);
    let seq = Number(first?.[1]) * LINES_PER_CHUNK + Number(first?.[2]);
    let bad = 0;
    for (const line of lines) if (line !== bigLine(seq++)) bad++;
    expect(bad).toBe(0);
    expect(seq).toBe(CHUNKS * LINES_PER_CHUNK);

    await waitFor(() => sv.log("bin").length > 0, "bin to write");
    expect([...readFileSync(join(p.dir, "logs", "bin-0.log"))]).toEqual([0x61, 0xff, 0xfe, 0x62, 0x0a]);
  }, 60_000);

  test("logs -n, logs -f, logs reopen and SIGUSR2 after an external rotation", async () => {
    const p = superviseProject(sh("talker", 'i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.05; done'));
    const sv = await startSupervise(p);
    await waitFor(() => count(sv.log("talker"), "\n") >= 5, "five lines");
    const tail = await sv.ctl("logs", "talker", "-n", "3");
    expect(tail.code).toBe(0);
    const nums = tail.stdout.trim().split("\n").map((l) => Number(l.replace("line ", "")));
    expect(nums.length).toBe(3);
    expect(nums).toEqual([nums[0] as number, (nums[0] as number) + 1, (nums[0] as number) + 2]);

    const follow = startTempest(["supervise", "logs", "talker", "-f", "-n", "1", "--socket", p.socket]);
    await waitFor(() => count(follow.stdout(), "\n") >= 4, "-f to print new lines");
    const followed = follow.stdout().trim().split("\n").map((l) => Number(l.replace("line ", "")));
    expect(followed.slice(1).every((n, i) => n === (followed[i] as number) + 1)).toBe(true);
    follow.proc.kill("SIGTERM");

    const logFile = join(p.dir, "logs", "talker-0.log");
    renameSync(logFile, `${logFile}.moved`);
    const r = await sv.ctl("logs", "reopen");
    expect(r.stdout.trim()).toBe("log files reopened");
    await waitFor(() => existsSync(logFile) && readFileSync(logFile, "utf8").includes("\n"), "a fresh log file after `logs reopen`");
    renameSync(logFile, `${logFile}.moved2`);
    sv.run.proc.kill("SIGUSR2");
    await waitFor(() => existsSync(logFile) && readFileSync(logFile, "utf8").includes("\n"), "a fresh log file after SIGUSR2");
  });
});

describe("timestamps, PM2-style", () => {
  const ISO = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
  test("[supervise] timestamps = true: each line of a program starts with an ISO time; without it, lines pass as written", async () => {
    const p = superviseProject(sh("plain", "echo one; echo two >&2; exec sleep 1000") + sh("stamped", "echo one; echo two >&2; exec sleep 1000", "log = { timestamps = true }"));
    const sv = await startSupervise(p);
    await waitFor(() => count(sv.log("plain"), "\n") >= 2 && count(sv.log("stamped"), "\n") >= 2, "both to write two lines");
    expect(sv.log("plain").split("\n").sort()).toEqual(["", "one", "two"]);
    expect(sv.log("stamped")).toMatch(new RegExp(`^${ISO} (one|two)\\n${ISO} (one|two)\\n$`));

    writeFileSync(join(p.dir, "supervise.toml"), supervisedToml(sh("all", "echo hi; exec sleep 1000")).replace("[supervise]\n", "[supervise]\ntimestamps = true\n"));
    expect((await sv.ctl("reload")).stdout.trim()).toBe("reloaded; added: all; removed: stamped, plain");
    await waitFor(() => sv.log("all").includes("\n"), "all to write");
    expect(sv.log("all")).toMatch(new RegExp(`^${ISO} hi\\n$`));
  }, 20_000);

  test("TEMPEST_LOG_TIMESTAMPS=1 (and by default off a terminal): tempest run stamps every forwarded line once, the tag right after the time", async () => {
    const parent = tempProject({}, "tempest-ts-");
    expect((await runTempest(["new", "demo"], { cwd: parent })).code).toBe(0);
    const r = await runTempest(["run", "demo"], { cwd: join(parent, "demo"), env: { TEMPEST_LOG_TIMESTAMPS: "1" } });
    expect(r.code).toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines.filter((l) => !new RegExp(`^${ISO} \\[[^\\]]+\\] `).test(l))).toEqual([]);
    expect(lines.filter((l) => new RegExp(`${ISO}.*${ISO}`).test(l))).toEqual([]);
    expect(r.stderr).toMatch(new RegExp(`^${ISO} \\[count#0\\] top words: the 19`, "m"));
    const plain = await runTempest(["run", "demo"], { cwd: join(parent, "demo"), env: { TEMPEST_LOG_TIMESTAMPS: "0" } });
    expect(plain.stderr).toMatch(/^\[count#0\] top words: the 19/m);
    // Not set: stderr is not a terminal here (a pipe), so the lines are stamped, as in a log file.
    const piped = await runTempest(["run", "demo"], { cwd: join(parent, "demo"), env: { TEMPEST_LOG_TIMESTAMPS: "" } });
    expect(piped.stderr).toMatch(new RegExp(`^${ISO} \\[count#0\\] top words: the 19`, "m"));
    expect(piped.stderr.split("\n").filter((l) => new RegExp(`${ISO}.*${ISO}`).test(l))).toEqual([]);
  }, 30_000);
});

describe("tempest supervise: reload", () => {
  test("`reload` and SIGHUP restart only the entry that changed; a broken file changes nothing", async () => {
    const entries = (bSleep: number, aEnv = "x") => sh("a", "exec sleep 1000", `env = { V = "${aEnv}" }`) + sh("b", `exec sleep ${bSleep}`);
    const p = superviseProject(entries(1000));
    const file = join(p.dir, "supervise.toml");
    const sv = await startSupervise(p);
    await waitFor(async () => (await sv.status()).every((r) => r.state === "running"), "a and b running");
    const pidOf = async (n: string) => (await sv.row(n)).pid;
    const [a1, b1] = [await pidOf("a"), await pidOf("b")];

    writeFileSync(file, supervisedToml(entries(2000)));
    const r = await sv.ctl("reload");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("reloaded; changed: b; unchanged: a");
    expect(await pidOf("a")).toBe(a1);
    const b2 = await pidOf("b");
    expect(b2).not.toBe(b1);
    expect((await sv.row("b")).state).toBe("running");

    writeFileSync(file, supervisedToml(entries(2000, "y")));
    sv.run.proc.kill("SIGHUP");
    await waitFor(async () => (await sv.row("a")).pid !== a1 && (await sv.row("a")).state === "running", "a to restart after SIGHUP");
    expect(await pidOf("b")).toBe(b2);

    const brokenText = `${supervisedToml(entries(2000, "y"))}[[process]]\nname = 1\n`;
    writeFileSync(file, brokenText);
    const broken = await sv.ctl("reload");
    expect(broken.code).toBe(2);
    const line = brokenText.split("\n").indexOf("name = 1") + 1;
    expect(broken.stderr).toBe(`supervise.toml:${line}:1: \`process.2.name\` must be a string, got 1 — quote it, e.g. \`name = "…"\`\n1 error found\n`);
    expect((await sv.status()).map((s) => s.state)).toEqual(["running", "running"]);

    writeFileSync(file, supervisedToml(sh("a", "exec sleep 1000", `env = { V = "y" }`) + sh("c", "exec sleep 1000")));
    const swapped = await sv.ctl("reload", "--json");
    expect(JSON.parse(swapped.stdout)).toEqual({ added: ["c"], removed: ["b"], changed: [], unchanged: ["a"] });
    expect((await sv.status()).map((s) => `${s.name}:${s.state}`)).toEqual(["a:running", "c:running"]);
  }, 30_000);
});

describe("tempest supervise: bad inputs say so in one line", () => {
  const run = (dir: string, ...args: string[]) => runTempest(["supervise", ...args], { cwd: dir, env: { TEMPEST_HOME: join(dir, "home") } });

  test("an unknown key and a negative timeout: file:line:col, exit 2", async () => {
    const dir = tempProject({ "supervise.toml": supervisedToml(sh("w", LOOP, "stop_timeot_ms = 5")) });
    const r = await run(dir, "supervise.toml");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("supervise.toml:9:1: unknown key `stop_timeot_ms` in [process.0] — did you mean `stop_timeout_ms`?\n1 error found\n");
    writeFileSync(join(dir, "supervise.toml"), supervisedToml(sh("w", LOOP, "stop_timeout_ms = -1")));
    const neg = await run(dir, "supervise.toml");
    expect(neg.code).toBe(2);
    expect(neg.stderr).toBe("supervise.toml:9:1: `process.0.stop_timeout_ms` must be at least 0, got -1 — write a number without quotes, e.g. `stop_timeout_ms = 5000`\n1 error found\n");
  });

  test("a command that does not exist is fatal with \"command not found\"; the supervisor keeps the rest running", async () => {
    const sv = await startSupervise(superviseProject(`[[process]]\nname = "ghost"\ncommand = "no-such-command-here"\n\n${sh("ok", LOOP)}`));
    expect(await sv.row("ghost")).toMatchObject({ state: "fatal", reason: "command not found: no-such-command-here", pid: null });
    expect((await sv.waitState("ok", "running")).pid).toBeGreaterThan(0);
    expect((await sv.ctl("status")).stdout).toMatch(/^ghost +0 +fatal .* command not found: no-such-command-here$/m);
  });

  test("a socket in a folder that does not exist: the folder is created, mode 0700; under a file it cannot be", async () => {
    const dir = tempProject({ "supervise.toml": `[supervise]\nsocket = "run/supervise.sock"\nlog_dir = "logs"\n\n${sh("w", LOOP)}` });
    const sv = await startSupervise({ dir, socket: join(dir, "run/supervise.sock") });
    expect((await sv.waitState("w", "running")).pid).toBeGreaterThan(0);
    expect(statSync(join(dir, "run")).mode & 0o777).toBe(0o700);
    expect((await run(dir, "status")).code).toBe(0);

    const file = tempProject({ "supervise.toml": `[supervise]\nsocket = "supervise.toml/s.sock"\n\n${sh("w", LOOP)}` });
    const r = await run(file, "supervise.toml");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`supervise.toml:2:1: the socket's folder ${join(file, "supervise.toml")} cannot be created: ${join(file, "supervise.toml")} is not a folder — point \`socket\` at a path under a folder\n1 error found\n`);
  });

  test("a syntax error in ./supervise.toml: status and reload print it (file:line:col), not \"no supervisor running\"", async () => {
    const dir = tempProject({ "supervise.toml": `[supervise]\nsocket = "s.sock\n` });
    for (const cmd of ["status", "reload"]) {
      const r = await run(dir, cmd);
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 2 });
      expect(r.stderr).toBe("supervise.toml:2:17: unterminated string in `socket` — close the quote on the same line\n1 error found\n");
    }
  });

  test("a second supervisor on the same socket is refused; the first keeps going", async () => {
    const p = superviseProject(sh("w", LOOP));
    const sv = await startSupervise(p);
    const r = await run(p.dir, "supervise.toml");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: another supervisor is already running on ${p.socket} — stop it first, or give this one another \`socket\` in [supervise]\n`);
    expect((await sv.waitState("w", "running")).restarts).toBe(0);
  });

  test("status with no supervisor running; an unknown process; an unknown flag", async () => {
    const dir = tempProject({});
    const sock = join(dir, "none.sock");
    const r = await run(dir, "status", "--socket", sock);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: no supervisor running at ${sock} — start one with \`tempest supervise [CONFIG]\`, or point --socket/--config at the right one\n`);
    const byDefault = await run(dir, "status");
    expect(byDefault.code).toBe(1);
    expect(byDefault.stderr).toContain(`no supervisor running at ${join(dir, "home/run/supervise.sock")}`);
    const flag = await run(dir, "status", "--jsno");
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe("error: unknown option `--jsno` for `tempest supervise status` — see `tempest supervise status --help`\n");

    const sv = await startSupervise(superviseProject(sh("worker", LOOP)));
    const unknown = await sv.ctl("stop", "wroker");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("error: no process named `wroker` — did you mean `worker`?\n");
  });
});

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
};

/** The supervisor's watchdog: its `sh` child whose script keeps the list of groups. */
function watchdogOf(supervisor: number): number {
  const pid = childPids(supervisor).find((p) => isAlive(p) && cmdline(p).includes("groups="));
  if (!pid) throw new Error(`no watchdog under ${supervisor}`);
  return pid;
}

const CHUNKS = 200;
const LINES_PER_CHUNK = 10_000;
/** 100 bytes: `c<chunk> l<line> xxx…` */
const bigLine = (seq: number) => `c${String(Math.floor(seq / LINES_PER_CHUNK)).padStart(6, "0")} l${String(seq % LINES_PER_CHUNK).padStart(4, "0")} ${"x".repeat(85)}`;

/** Writes 200 × 1 MB of numbered lines as fast as stdout takes them; records its own run time. */
const BIG_WRITER = `const fs = require("node:fs");
const CHUNKS = ${CHUNKS}, LINES = ${LINES_PER_CHUNK};
const buf = Buffer.alloc(LINES * 100);
for (let i = 0; i < LINES; i++) buf.write("c000000 l" + String(i).padStart(4, "0") + " " + "x".repeat(85) + "\\n", i * 100, "latin1");
const t0 = performance.now();
let chunk = 0;
function next() {
  while (chunk < CHUNKS) {
    const id = Buffer.from(String(chunk).padStart(6, "0"), "latin1");
    for (let i = 0; i < LINES; i++) id.copy(buf, i * 100 + 1);
    chunk++;
    if (!process.stdout.write(Buffer.from(buf))) return process.stdout.once("drain", next);
  }
  process.stdout.write("", () => fs.writeFileSync("elapsed-" + process.argv[2], String(performance.now() - t0)));
}
next();
`;
