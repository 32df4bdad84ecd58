import { describe, expect, test } from "bun:test";
import { awaitsFirstDelivery, initialLifecycle, isDone, isStopping, next, readsSource, type Lifecycle, type LifecycleEvent } from "./lifecycle.ts";

/** Feeds events in order (each with its `now`); returns the last state and every log line said. */
function run(s: Lifecycle, events: Array<[LifecycleEvent, number]>): { state: Lifecycle; logs: string[] } {
  let state = s;
  const logs: string[] = [];
  for (const [e, now] of events) {
    const r = next(state, e, now);
    if (r.log) logs.push(`${r.log.level}: ${r.log.text}`);
    state = r.state;
  }
  return { state, logs };
}

const check = (over: Partial<LifecycleEvent & { type: "check" }> = {}): LifecycleEvent => ({ type: "check", polling: false, sessions: 1, inflight: 0, exhausted: false, ...over });
const stop = (over: Partial<LifecycleEvent & { type: "stop_requested" }> = {}): LifecycleEvent => ({ type: "stop_requested", reason: "SIGTERM", drain: true, drainMs: 1000, inflight: 3, ...over });
const first: LifecycleEvent = { type: "first_delivery" };
const wrote: LifecycleEvent = { type: "write_started" };
const settled: LifecycleEvent = { type: "write_settled" };
const tick = (inflight = 0): LifecycleEvent => ({ type: "tick", inflight });

const starting = () => initialLifecycle(0);
const running = () => run(starting(), [[first, 10]]).state;
const draining = () => run(running(), [[stop(), 100]]).state;

describe("rule 1: starting, then running at the first delivery", () => {
  test("a topology starts in `starting`, measured from its start", () => {
    expect(initialLifecycle(5)).toEqual({ state: "starting", since: 5, writes: 0 });
    expect(awaitsFirstDelivery(initialLifecycle(5))).toBe(true);
    expect(readsSource(initialLifecycle(5))).toBe(true);
  });

  test("the first delivery makes it `running`, measured from then, and says so at debug", () => {
    const r = next(starting(), first, 10);
    expect(r.state).toEqual({ state: "running", since: 10, writes: 0 });
    expect(r.log).toEqual({ level: "debug", text: "first delivery: throughput is measured from here" });
    expect(awaitsFirstDelivery(r.state)).toBe(false);
  });

  test("a later delivery changes nothing: the same state, no log", () => {
    const s = running();
    expect(next(s, first, 20)).toEqual({ state: s });
    expect(next(s, first, 20).state).toBe(s);
  });

  test("a first delivery after a stop still sets when throughput is measured from", () => {
    const s = run(starting(), [[stop(), 5], [first, 30]]).state;
    expect(s).toMatchObject({ state: "draining", since: 30, delivered: true });
    expect(next(s, first, 40).state).toBe(s);
  });
});

describe("rule 2: stop", () => {
  test("a drained stop: `draining` until now + drainMs, said with what it finishes", () => {
    const r = next(running(), stop({ reason: "SIGINT", drainMs: 1000, inflight: 3 }), 100);
    expect(r.state).toEqual({ state: "draining", since: 10, writes: 0, delivered: true, deadline: 1100 });
    expect(r.log).toEqual({ level: "info", text: "stopping (SIGINT): no new messages; finishing 3 in flight" });
    expect(isStopping(r.state)).toBe(true);
    expect(readsSource(r.state)).toBe(false);
  });

  test("a stop without drain: the deadline is now, and what is in flight stays at the source", () => {
    const r = next(running(), stop({ reason: "SIGUSR2", drain: false, inflight: 2 }), 100);
    expect(r.state).toMatchObject({ state: "draining", deadline: 100 });
    expect(r.log).toEqual({ level: "info", text: "stopping (SIGUSR2): no new messages; 2 in flight stay at the source" });
  });

  test("a stop before the first delivery remembers that nothing was delivered", () => {
    expect(next(starting(), stop(), 100).state).toEqual({ state: "draining", since: 0, writes: 0, delivered: false, deadline: 1100 });
  });

  test("a second drained stop changes nothing and says nothing", () => {
    const s = draining();
    expect(next(s, stop({ reason: "again" }), 200)).toEqual({ state: s });
  });

  test("a stop without drain during a drain says so again and brings the deadline to now", () => {
    const r = next(draining(), stop({ reason: "SIGUSR2", drain: false, inflight: 1 }), 200);
    expect(r.state).toMatchObject({ state: "draining", deadline: 200 });
    expect(r.log?.text).toBe("stopping (SIGUSR2): no new messages; 1 in flight stay at the source");
  });

  test("a deadline only moves earlier: a longer drain later keeps the first one", () => {
    const s = run(running(), [[stop({ drain: false }), 100]]).state;
    expect(next(s, stop({ drain: false }), 500).state).toMatchObject({ deadline: 100 });
  });
});

describe("rule 3: the stop's deadline", () => {
  test("a tick past the deadline is `done`, with a warning that what is unfinished stays at the source", () => {
    const r = next(draining(), tick(4), 1101);
    expect(r.state).toEqual({ state: "done", since: 10, stopped: true });
    expect(r.log).toEqual({ level: "warn", text: "stopping with 4 message(s) unfinished; they stay unacked at the source" });
  });

  test("a tick at or before the deadline changes nothing", () => {
    const s = draining();
    expect(next(s, tick(4), 1100).state).toBe(s);
  });

  test("a tick without a stop changes nothing, however late", () => {
    const s = running();
    expect(next(s, tick(4), 1e12).state).toBe(s);
  });

  test("the deadline ends a stop even while dead-letter writes are pending", () => {
    const s = run(draining(), [[wrote, 150], [check({ inflight: 0 }), 150]]).state;
    expect(s.state).toBe("finishing");
    expect(next(s, tick(0), 1101)).toEqual({ state: { state: "done", since: 10, stopped: true }, log: { level: "warn", text: "stopping with 0 message(s) unfinished; they stay unacked at the source" } });
  });
});

describe("rule 4: done when the work is over", () => {
  test("an exhausted source with nothing in flight is `done`, at debug", () => {
    const r = next(running(), check({ exhausted: true }), 50);
    expect(r.state).toEqual({ state: "done", since: 10, stopped: false });
    expect(r.log).toEqual({ level: "debug", text: "done: the source is exhausted and nothing is in flight" });
  });

  test("an exhausted source with roots in flight is not done yet", () => {
    const s = running();
    expect(next(s, check({ exhausted: true, inflight: 1 }), 50).state).toBe(s);
  });

  test("a source that is not exhausted, nothing in flight, no stop: not done", () => {
    const s = running();
    expect(next(s, check({ inflight: 0 }), 50).state).toBe(s);
  });

  test("a stop with nothing in flight is `done` at the next check", () => {
    const r = next(draining(), check({ inflight: 0 }), 150);
    expect(r.state).toEqual({ state: "done", since: 10, stopped: true });
    expect(r.log).toEqual({ level: "debug", text: "done: stopped, nothing in flight" });
  });

  test("a stop waits while roots are in flight and a task is connected", () => {
    const s = draining();
    expect(next(s, check({ inflight: 2, sessions: 1 }), 150).state).toBe(s);
  });

  test("a stop with roots in flight and no task connected is `done` at once, with a warning", () => {
    const r = next(draining(), check({ inflight: 2, sessions: 0 }), 150);
    expect(r.state).toEqual({ state: "done", since: 10, stopped: true });
    expect(r.log).toEqual({ level: "warn", text: "stopping with 2 message(s) unfinished and no task connected; they stay unacked at the source" });
  });

  test("no task connected without a stop is not a reason to finish: work waits for tasks", () => {
    const s = running();
    expect(next(s, check({ inflight: 2, sessions: 0 }), 150).state).toBe(s);
  });

  test("never while a source poll is out, even with every other reason to finish", () => {
    for (const s of [running(), draining()]) {
      expect(next(s, check({ polling: true, exhausted: true, inflight: 0 }), 150).state).toBe(s);
      expect(next(s, check({ polling: true, sessions: 0, inflight: 2 }), 150).state).toBe(s);
    }
  });
});

describe("rule 5: finishing waits for dead-letter writes", () => {
  test("writes are counted in every state before done, without a log", () => {
    const r = next(starting(), wrote, 1);
    expect(r).toEqual({ state: { state: "starting", since: 0, writes: 1 } });
    expect(next(r.state, settled, 2)).toEqual({ state: { state: "starting", since: 0, writes: 0 } });
  });

  test("ready to finish with writes pending: `finishing`, said at debug", () => {
    const r = next(run(running(), [[wrote, 20]]).state, check({ exhausted: true }), 50);
    expect(r.state).toEqual({ state: "finishing", since: 10, writes: 1, delivered: true, deadline: null });
    expect(r.log).toEqual({ level: "debug", text: "finishing (the source is exhausted and nothing is in flight): waiting for 1 dead-letter write(s)" });
    expect(readsSource(r.state)).toBe(true);
    expect(isStopping(r.state)).toBe(false);
  });

  test("the last write settled: `done` at the next check", () => {
    const s = run(running(), [[wrote, 20], [check({ exhausted: true }), 50], [settled, 60]]).state;
    expect(s).toMatchObject({ state: "finishing", writes: 0 });
    expect(next(s, check({ exhausted: true }), 60).state).toEqual({ state: "done", since: 10, stopped: false });
  });

  test("while writes are pending, a check changes nothing", () => {
    const s = run(running(), [[wrote, 20], [wrote, 20], [check({ exhausted: true }), 50], [settled, 60]]).state;
    expect(next(s, check({ exhausted: true }), 60).state).toBe(s);
  });

  test("a source that read only bad lines finishes from `starting`: nothing delivered", () => {
    const s = run(starting(), [[wrote, 1], [check({ exhausted: true }), 2]]).state;
    expect(s).toEqual({ state: "finishing", since: 0, writes: 1, delivered: false, deadline: null });
    expect(awaitsFirstDelivery(s)).toBe(true);
  });

  test("finishing after a stop keeps its deadline and stays stopping", () => {
    const s = run(draining(), [[wrote, 120], [check({ inflight: 0 }), 130]]).state;
    expect(s).toEqual({ state: "finishing", since: 10, writes: 1, delivered: true, deadline: 1100 });
    expect(isStopping(s)).toBe(true);
    expect(readsSource(s)).toBe(false);
  });

  test("no task connected is decided again when the writes settle: by then nothing may be left", () => {
    const s = run(draining(), [[wrote, 120], [check({ inflight: 2, sessions: 0 }), 130], [settled, 140]]).state;
    expect(s.state).toBe("finishing");
    expect(run(s, [[check({ inflight: 0, sessions: 0 }), 140]]).logs).toEqual(["debug: done: stopped, nothing in flight"]);
    expect(run(s, [[check({ inflight: 1, sessions: 0 }), 140]]).logs).toEqual(["warn: stopping with 1 message(s) unfinished and no task connected; they stay unacked at the source"]);
  });

  test("a stop while finishing: said, and the deadline is set", () => {
    const s = run(running(), [[wrote, 20], [check({ exhausted: true }), 50]]).state;
    const r = next(s, stop({ inflight: 0 }), 100);
    expect(r.state).toEqual({ state: "finishing", since: 10, writes: 1, delivered: true, deadline: 1100 });
    expect(r.log?.text).toBe("stopping (SIGTERM): no new messages; finishing 0 in flight");
  });

  test("not ready after all (a source no longer exhausted): back to the state it came from", () => {
    const s = run(running(), [[wrote, 20], [check({ exhausted: true }), 50]]).state;
    const r = next(s, check({ exhausted: false }), 60);
    expect(r.state).toEqual({ state: "running", since: 10, writes: 1 });
    expect(r.log).toEqual({ level: "debug", text: "running again: there is work after all" });
  });
});

describe("rule 6: done is for good", () => {
  test("every event after done changes nothing and says nothing", () => {
    const done = run(running(), [[check({ exhausted: true }), 50]]).state;
    expect(isDone(done)).toBe(true);
    for (const e of [first, wrote, settled, stop(), stop({ drain: false }), check({ exhausted: true }), check({ sessions: 0, inflight: 3 }), tick(1)]) {
      expect(next(done, e, 1e9)).toEqual({ state: done });
    }
  });

  test("done remembers whether a stop was asked: a hello after it is refused as stopping only then", () => {
    expect(isStopping(run(running(), [[check({ exhausted: true }), 50]]).state)).toBe(false);
    expect(isStopping(run(draining(), [[check(), 150]]).state)).toBe(true);
    expect(readsSource(run(running(), [[check({ exhausted: true }), 50]]).state)).toBe(false);
  });
});
