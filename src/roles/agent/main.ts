import { type BackoffRules, createBackoff } from "../../core/backoff.ts";
import { join } from "node:path";
import type { AssignmentDoc } from "../../core/cluster/model.ts";
import { fence, parseAssignment } from "../../core/cluster/fence.ts";
import { parseRedisUrl } from "../../core/config/redis-url.ts";
import { createKeys } from "../../core/registry/keys.ts";
import { initTempestHome } from "../../core/tempest-home.ts";
import { VERSION } from "../../version.ts";
import { createLogger, type Logger } from "../log.ts";
import { connectRedis } from "../redis/connect.ts";
import { startSupervisor } from "../supervise/supervisor.ts";
import { createArtifactStore } from "./artifacts.ts";
import { checkToken } from "./director.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { startLogShipper } from "./logs.ts";
import { isLoopbackHost, type AgentOptions } from "./options.ts";
import { Reconciler } from "./reconciler.ts";
import { agentRecord, processesDoc } from "./report.ts";
import { listenForWakeups } from "./wake.ts";

/** A refused artifact is tried again after this, doubling up to the cap. */
const ARTIFACT_RETRY: BackoffRules = { initialMs: 2_000, maxMs: 60_000, factor: 2 };

/**
 * `tempest agent` (DESIGN.md §8): registers, reconciles its processes to the newest assignment
 * it has seen, reports them, ships their logs. Resolves with the exit code: 0 after a clean
 * SIGTERM/SIGINT (every process stopped, keys removed), 1 after a second signal.
 */
export async function runAgentRole(opts: AgentOptions, log: Logger = createLogger("agent")): Promise<number> {
  if (opts.token) await checkToken(opts.director, opts.token, log);
  else if (!isLoopbackHost(opts.advertise)) log.warn(`--advertise ${opts.advertise} without TEMPEST_TOKEN: topologies will refuse to listen on 0.0.0.0 (DESIGN.md §11); set TEMPEST_TOKEN`);
  initTempestHome(opts.home);
  const keys = createKeys();
  const redisShown = parseRedisUrl(opts.redis, "--redis").shown;
  const redis = await connectRedis(opts.redis, { name: `tempest:agent:${opts.name}`, where: "--redis (or TEMPEST_REDIS_URL)", log, failFast: false });
  const quiet = { warn() {}, info() {} };
  const sub = await connectRedis(opts.redis, { name: `tempest:agent:${opts.name}:wake`, where: "--redis (or TEMPEST_REDIS_URL)", log: quiet, failFast: false });

  const shipper = startLogShipper({ redis, keys, agent: opts.name, log });
  let reconciler!: Reconciler;
  const supervisor = await startSupervisor({ socket: null, logDir: join(opts.home, "logs"), processes: [] }, {
    log,
    ledgerFile: join(opts.home, "run", "agent.pids"),
    watchdog: true,
    onOutput: (name, _i, bytes) => {
      const p = reconciler?.lookup(name);
      if (p) shipper.push(p, bytes);
    },
  });
  const store = createArtifactStore({ home: opts.home, director: opts.director, token: opts.token });
  reconciler = new Reconciler({ ctx: { home: opts.home, redis: opts.redis, name: opts.name, advertise: opts.advertise }, store, supervisor, log });

  // Fencing and one reconcile at a time: `latest` is the newest document accepted.
  let seen = 0;
  let applied = 0;
  let latest: AssignmentDoc | null = null;
  let running: Promise<void> | null = null;
  let retryAt = 0;
  const artifactRetry = createBackoff(ARTIFACT_RETRY);
  let stopping = false;
  const saidStale = new Set<number>();
  let saidBad = "";

  const reconcileLoop = async () => {
    while (latest && !stopping) {
      const doc = latest;
      const problems = await reconciler.apply(doc).catch((e: Error) => {
        log.error(`cannot apply generation ${doc.generation}: ${e.message}`);
        return [{ id: "*", reason: e.message }];
      });
      if (applied !== doc.generation) log.info(`applied generation ${doc.generation}: ${reconciler.planned.size} of ${doc.processes.length} process(es) assigned${problems.length ? `, ${problems.length} waiting for their artifact` : ""}`);
      applied = doc.generation;
      if (problems.length) {
        retryAt = Date.now() + artifactRetry.next();
      } else {
        retryAt = 0;
        artifactRetry.reset();
      }
      if (latest === doc) break;
    }
  };
  const kick = () => {
    if (!running) running = reconcileLoop().finally(() => (running = null));
  };
  const onAssignment = (raw: string | null) => {
    if (raw === null || stopping) return;
    const parsed = parseAssignment(raw, opts.name);
    if ("error" in parsed) {
      if (parsed.error !== saidBad) log.error(`ignoring ${keys.assignment(opts.name)}: ${parsed.error}`);
      saidBad = parsed.error;
      return;
    }
    const { doc } = parsed;
    switch (fence(doc.generation, seen)) {
      case "stale":
        if (!saidStale.has(doc.generation)) log.warn(`ignoring generation ${doc.generation} < ${seen}`);
        saidStale.add(doc.generation);
        return;
      case "same":
        if (retryAt && Date.now() >= retryAt && !running) kick();
        return;
      case "apply":
        seen = doc.generation;
        latest = doc;
        kick();
    }
  };

  const startedAt = Date.now();
  const heartbeat = startHeartbeat({
    redis, keys, name: opts.name, ttlMs: opts.ttlMs, beatMs: opts.beatMs,
    record: () => agentRecord({ name: opts.name, advertise: opts.advertise, slots: opts.slots, used: latest?.processes.length ?? 0, version: VERSION, startedAt, now: Date.now() }),
    processes: () => processesDoc(opts.name, applied, reconciler.planned, supervisor.status(), reconciler.problems, Date.now()),
    onAssignment,
  });
  const stopWakeups = listenForWakeups(sub, keys.assignmentWake(), opts.name, () => heartbeat.readAssignment());
  log.info(`agent ${opts.name} (${opts.advertise}, ${opts.slots} slots) reading assignments from Redis at ${redisShown}; home ${opts.home}`);

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onStop = (sig: NodeJS.Signals) => {
      if (++signals > 1) {
        log.warn(`${sig} again: SIGKILL to every process`);
        supervisor.kill();
        return;
      }
      log.info(`${sig}: stopping every process`);
      stopping = true;
      void (async () => {
        stopWakeups();
        await running;
        await supervisor.stop();
        await heartbeat.stop();
        await shipper.close();
        redis.disconnect();
        log.info("stopped");
        resolve(signals > 1 ? 1 : 0);
      })();
    };
    process.on("SIGTERM", onStop);
    process.on("SIGINT", onStop);
  });
}
