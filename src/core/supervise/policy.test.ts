import { describe, expect, test } from "bun:test";
import { defineProcess } from "./config.ts";
import { JITTER, initialState, step, type InstanceState, type PolicyEvent, type RestartRules } from "./policy.ts";

const rules = (over: Partial<RestartRules> = {}): RestartRules => ({
  ...defineProcess({ name: "p", command: "x", backoff: { initialMs: 100, maxMs: 1000, factor: 2, resetAfterMs: 60_000 }, limit: { restarts: 6, windowMs: 60_000 } }),
  ...over,
});

/** Feeds events in order; returns the last result and every intermediate state. */
function run(s: InstanceState, events: Array<[PolicyEvent, number]>) {
  let state = s;
  const trail = [];
  for (const [e, now] of events) {
    const r = step(state, e, now);
    trail.push(r);
    state = r.state;
  }
  return { state, trail, last: trail[trail.length - 1] };
}

const start = (r = rules()) => run(initialState(r), [[{ type: "start" }, 0], [{ type: "spawned" }, 0]]).state;
const crash = { type: "exited", code: 1, signal: null } as const;

describe("start and stop", () => {
  test("start spawns; spawned is running", () => {
    const r = step(initialState(rules()), { type: "start" }, 0);
    expect(r.state.phase).toBe("starting");
    expect(r.actions).toEqual([{ type: "timer", at: null }, { type: "spawn" }]);
    expect(step(r.state, { type: "spawned" }, 5).state).toMatchObject({ phase: "running", startedAt: 5 });
  });

  test("start on a running instance does nothing", () => {
    expect(step(start(), { type: "start" }, 10).actions).toEqual([]);
  });

  test("stop: stop signal to the group, a timer at stop_timeout, SIGKILL when it fires, stopped on exit", () => {
    const s = start(rules({ stopSignal: "SIGINT", stopTimeoutMs: 3000 }));
    const a = step(s, { type: "stop" }, 1000);
    expect(a.state.phase).toBe("stopping");
    expect(a.actions).toEqual([{ type: "signal", signal: "SIGINT" }, { type: "timer", at: 4000 }]);
    const b = step(a.state, { type: "timer" }, 4000);
    expect(b.actions).toEqual([{ type: "signal", signal: "SIGKILL" }]);
    expect(step(b.state, { type: "timer" }, 5000).actions).toEqual([]); // no second SIGKILL
    const c = step(b.state, { type: "exited", code: null, signal: "SIGKILL" }, 4010);
    expect(c.state).toMatchObject({ phase: "stopped", lastExit: { code: null, signal: "SIGKILL" } });
    expect(c.actions).toEqual([{ type: "timer", at: null }]);
  });

  test("a stopped instance is never restarted by a timer or an exit", () => {
    const s = run(start(), [[{ type: "stop" }, 0], [{ type: "exited", code: 0, signal: null }, 10]]).state;
    expect(s.phase).toBe("stopped");
    for (const e of [{ type: "timer" }, { type: "exited", code: 1, signal: null }, { type: "spawned" }] as PolicyEvent[]) {
      const r = step(s, e, 100_000);
      expect(r.state.phase).toBe("stopped");
      expect(r.actions).toEqual([]);
    }
  });

  test("stop during backoff cancels the retry", () => {
    const s = step(start(), crash, 10).state;
    expect(s.phase).toBe("backoff");
    const r = step(s, { type: "stop" }, 20);
    expect(r.state.phase).toBe("stopped");
    expect(r.actions).toEqual([{ type: "timer", at: null }]);
  });

  test("restart: stop, then a fresh start once the old process is gone", () => {
    const s = step(start(), crash, 10).state;
    const running = run(s, [[{ type: "timer" }, 200], [{ type: "spawned" }, 200]]).state;
    expect(running.restarts).toBe(1);
    const a = step(running, { type: "restart" }, 300);
    expect(a.state.phase).toBe("stopping");
    const b = step(a.state, { type: "exited", code: null, signal: "SIGTERM" }, 310);
    expect(b.state).toMatchObject({ phase: "starting", restarts: 0, crashes: [] });
    expect(b.actions).toContainEqual({ type: "spawn" });
  });

  test("start while stopping turns the stop into a restart; stop while restarting turns it back", () => {
    const a = run(start(), [[{ type: "stop" }, 0], [{ type: "start" }, 1]]).state;
    expect(a.afterStop).toBe("start");
    const b = step(a, { type: "stop" }, 2).state;
    expect(step(b, { type: "exited", code: 0, signal: null }, 3).state.phase).toBe("stopped");
  });
});

describe("restart modes", () => {
  test("on-failure: exit 0 stays exited", () => {
    const r = step(start(rules({ restart: "on-failure" })), { type: "exited", code: 0, signal: null }, 50);
    expect(r.state).toMatchObject({ phase: "exited", reason: "exited with code 0" });
    expect(r.actions).toEqual([{ type: "timer", at: null }]);
  });

  test("on-failure: a code in success_codes is not restarted, another code is", () => {
    const s = start(rules({ restart: "on-failure", successCodes: [0, 3] }));
    expect(step(s, { type: "exited", code: 3, signal: null }, 50).state.phase).toBe("exited");
    expect(step(s, { type: "exited", code: 4, signal: null }, 50).state.phase).toBe("backoff");
  });

  test("on-failure: death by SIGSEGV or SIGKILL is restarted", () => {
    const s = start(rules({ restart: "on-failure" }));
    for (const signal of ["SIGSEGV", "SIGKILL"]) {
      const r = step(s, { type: "exited", code: null, signal }, 50);
      expect(r.state.phase).toBe("backoff");
      expect(r.note).toContain(`killed by ${signal}`);
    }
  });

  test("never: any exit stays exited", () => {
    expect(step(start(rules({ restart: "never" })), crash, 50).state.phase).toBe("exited");
  });

  test("always: a clean exit is restarted too, but is not counted as a crash", () => {
    const r = step(start(rules({ restart: "always" })), { type: "exited", code: 0, signal: null }, 50);
    expect(r.state.phase).toBe("backoff");
    expect(r.state.crashes).toEqual([]);
  });
});

describe("backoff", () => {
  test("delays 100, 200, 400, 800, 1000, 1000 ms (jitter takes at most 10% off), restarts counted", () => {
    let s = start();
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = step(s, crash, now);
      expect(r.state.phase).toBe("backoff");
      const at = r.actions.find((a) => a.type === "timer") as { at: number };
      delays.push(at.at - now);
      now = at.at;
      s = run(r.state, [[{ type: "timer" }, now], [{ type: "spawned" }, now]]).state;
      expect(s.restarts).toBe(i + 1);
    }
    const nominal = [100, 200, 400, 800, 1000, 1000];
    delays.forEach((d, i) => {
      expect(d).toBeLessThanOrEqual(nominal[i] as number);
      expect(d).toBeGreaterThanOrEqual(Math.floor((nominal[i] as number) * (1 - JITTER)));
    });
    expect(new Set(delays.map((d, i) => d / (nominal[i] as number))).size).toBeGreaterThan(1); // jittered
  });

  test("a run longer than reset_after_ms starts the backoff again from initial_ms", () => {
    let s = start(rules({ backoff: { initialMs: 100, maxMs: 1000, factor: 2, resetAfterMs: 5000 } }));
    s = run(s, [[crash, 10], [{ type: "timer" }, 200], [{ type: "spawned" }, 200], [crash, 210]]).state;
    expect(s.delayMs).toBe(400); // 100, 200, next 400
    s = run(s, [[{ type: "timer" }, 500], [{ type: "spawned" }, 500]]).state;
    const r = step(s, crash, 500 + 6000);
    const at = (r.actions[0] as { at: number }).at;
    expect(at - 6500).toBeLessThanOrEqual(100);
  });

  test("the same seed gives the same delays (pure)", () => {
    const a = step(start(), crash, 10);
    const b = step(start(), crash, 10);
    expect(a).toEqual(b);
  });
});

describe("rate limit", () => {
  test("more crashes than limit.restarts in the window: fatal, and it stays so", () => {
    let s = start();
    let now = 0;
    let last;
    for (let i = 0; i < 7; i++) {
      last = step(s, crash, now);
      if (last.state.phase === "fatal") break;
      now = (last.actions[0] as { at: number }).at;
      s = run(last.state, [[{ type: "timer" }, now], [{ type: "spawned" }, now]]).state;
    }
    expect(last?.state.phase).toBe("fatal");
    expect(last?.state.reason).toBe("7 crashes within 60 s (limit 6); last: exited with code 1");
    const fatal = last!.state;
    for (const e of [{ type: "timer" }, crash, { type: "spawned" }] as PolicyEvent[]) expect(step(fatal, e, now + 1e9).state.phase).toBe("fatal");
  });

  test("a process that crashes 1.5 s after every start still ends fatal (no 'startsecs' amnesty)", () => {
    // reset_after_ms below the lifetime: the backoff never grows, so only the window can stop it.
    let s = start(rules({ backoff: { initialMs: 100, maxMs: 1000, factor: 2, resetAfterMs: 1000 }, limit: { restarts: 10, windowMs: 60_000 } }));
    let now = 0;
    let crashes = 0;
    while (s.phase !== "fatal" && crashes < 1000) {
      now += 1500;
      const r = step(s, crash, now);
      crashes++;
      s = r.state;
      if (s.phase === "backoff") {
        now = s.retryAt as number;
        s = run(s, [[{ type: "timer" }, now], [{ type: "spawned" }, now]]).state;
      }
    }
    expect(s.phase).toBe("fatal");
    expect(crashes).toBe(11);
  });

  test("with the documented defaults (backoff to 30 s, 10 per minute), a 1.5 s crash loop still ends fatal", () => {
    // Backoff spreads the crashes until no minute holds 10 of them: the streak ends it instead.
    let s = start(rules({ backoff: { initialMs: 100, maxMs: 30_000, factor: 2, resetAfterMs: 60_000 }, limit: { restarts: 10, windowMs: 60_000 } }));
    let now = 0;
    let crashes = 0;
    while (s.phase !== "fatal" && crashes < 1000) {
      now += 1500;
      s = step(s, crash, now).state;
      crashes++;
      if (s.phase === "backoff") {
        now = s.retryAt as number;
        s = run(s, [[{ type: "timer" }, now], [{ type: "spawned" }, now]]).state;
      }
    }
    expect(crashes).toBe(11);
    expect(s.reason).toBe("11 crashes in a row, none after running 60 s or more (limit 10); last: exited with code 1");
  });

  test("a stable run between crashes resets the streak: a process crashing every 2 minutes is never fatal", () => {
    let s = start(rules({ backoff: { initialMs: 100, maxMs: 30_000, factor: 2, resetAfterMs: 60_000 }, limit: { restarts: 3, windowMs: 60_000 } }));
    let now = 0;
    for (let i = 0; i < 20; i++) {
      now += 120_000;
      s = step(s, crash, now).state;
      expect(s.phase).toBe("backoff");
      expect(s.unstable).toBe(1);
      now = s.retryAt as number;
      s = run(s, [[{ type: "timer" }, now], [{ type: "spawned" }, now]]).state;
    }
  });

  test("crashes older than the window are forgotten", () => {
    // It ran 19.9 s (over reset_after_ms) before the second crash, so only the window decides.
    let s = start(rules({ limit: { restarts: 1, windowMs: 10_000 }, backoff: { initialMs: 100, maxMs: 1000, factor: 2, resetAfterMs: 10_000 } }));
    s = run(s, [[crash, 0], [{ type: "timer" }, 100], [{ type: "spawned" }, 100]]).state;
    const r = step(s, crash, 20_000);
    expect(r.state.phase).toBe("backoff");
    expect(r.state.crashes).toEqual([20_000]);
  });

  test("limit.restarts = 0: the first crash is fatal", () => {
    expect(step(start(rules({ limit: { restarts: 0, windowMs: 1000 } })), crash, 5).state.phase).toBe("fatal");
  });

  test("a start by command resets the counters of a fatal instance", () => {
    let s = start(rules({ limit: { restarts: 0, windowMs: 1000 } }));
    s = run(s, [[crash, 5], [{ type: "start" }, 10]]).state;
    expect(s).toMatchObject({ phase: "starting", restarts: 0, crashes: [], unstable: 0, reason: null, streak: 0, delayMs: 100 });
  });
});

describe("spawn failures", () => {
  test("command not found: fatal with the reason, no retry", () => {
    const s = step(initialState(rules()), { type: "start" }, 0).state;
    const r = step(s, { type: "spawn_failed", reason: "command not found: nope", retryable: false }, 1);
    expect(r.state).toMatchObject({ phase: "fatal", reason: "command not found: nope" });
    expect(r.actions).toEqual([]);
  });

  test("a transient failure is a crash with backoff", () => {
    const s = step(initialState(rules()), { type: "start" }, 0).state;
    const r = step(s, { type: "spawn_failed", reason: "EAGAIN", retryable: true }, 1);
    expect(r.state.phase).toBe("backoff");
  });
});
