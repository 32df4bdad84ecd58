import type { Manifest } from "../../core/build/plan.ts";
import type { Deployment, DeployedExecutable, TopologyState } from "../../core/cluster/model.ts";
import { workerOf } from "../../core/cluster/plan.ts";
import { didYouMean } from "../../core/text/suggest.ts";
import type { Logger } from "../log.ts";
import { SHA256_HEX, type ArtifactStore } from "./artifacts.ts";
import { ApiError, authorized, errorResponse, json, readJson, toErrorResponse } from "./http.ts";
import { lastLogId, nextLogs, recentLogs, type LogFilter } from "./logs.ts";
import type { ClusterStore } from "./store.ts";
import { dashboardAsset } from "./dashboard-assets.ts";
import { renderMetrics } from "./metrics.ts";
import { readCluster, readClusterState, type TopologyView } from "./views.ts";

export interface ApiDeps {
  store: ClusterStore;
  artifacts: ArtifactStore;
  token: string | undefined;
  log: Logger;
  /** Schedule now: after a change of desired state. */
  poke(): void;
  /** How often the dashboard's live updates are pushed. */
  tickMs: number;
}

type Handler = (req: Request, params: string[], url: URL) => Promise<Response>;

/** The HTTP API of DESIGN.md §9, under /api/v1. */
export function createApi(deps: ApiDeps): (req: Request) => Promise<Response> {
  const { store, artifacts, log } = deps;
  const routes: Array<[string, RegExp, Handler]> = [
    ["GET", /^\/api\/v1\/cluster$/, async () => json(await readCluster(store))],
    ["GET", /^\/metrics$/, async () => {
      const { view, stats } = await readClusterState(store);
      const { text, contentType } = await renderMetrics(view, stats);
      return new Response(text, { headers: { "content-type": contentType } });
    }],
    ["GET", /^\/api\/v1\/events$/, async (req) => events(req)],
    ["GET", /^\/api\/v1\/agents$/, async () => json({ agents: (await readCluster(store)).agents })],
    ["GET", /^\/api\/v1\/topologies$/, async () => json({ topologies: (await readCluster(store)).topologies })],
    ["GET", /^\/api\/v1\/topologies\/([^/]+)$/, async (_r, [name]) => json(await topologyView(name!))],
    ["GET", /^\/api\/v1\/topologies\/([^/]+)\/logs$/, (req, [name], url) => logs(req, name!, url)],
    ["POST", /^\/api\/v1\/topologies\/([^/]+)\/start$/, async (_r, [name]) => json(await setDesired(name!, "running"))],
    ["POST", /^\/api\/v1\/topologies\/([^/]+)\/stop$/, async (_r, [name]) => json(await setDesired(name!, "stopped"))],
    ["POST", /^\/api\/v1\/topologies\/([^/]+)\/reload$/, async (_r, [name]) => json(await reload(name!))],
    ["POST", /^\/api\/v1\/topologies\/([^/]+)\/scale$/, async (req, [name]) => json(await scale(name!, await readJson(req)))],
    ["POST", /^\/api\/v1\/deploy$/, (req) => deploy(req)],
    ["HEAD", /^\/api\/v1\/artifacts\/([^/]+)$/, async (_r, [sha]) => (artifacts.path(sha!) ? new Response(null, { status: 200, headers: { "content-length": String(artifacts.size(sha!)) } }) : new Response(null, { status: 404 }))],
    ["GET", /^\/api\/v1\/artifacts\/([^/]+)$/, async (_r, [sha]) => artifact(sha!)],
    ["PUT", /^\/api\/v1\/artifacts\/([^/]+)$/, (req, [sha]) => upload(req, sha!)],
  ];

  /**
   * Live updates for the dashboard (Server-Sent Events): the whole cluster view once a tick,
   * computed once per tick however many pages listen, so a page with many tasks costs one
   * connection and the director one read of Redis per tick.
   */
  let shared: { at: number; body: Promise<string> } | null = null;
  const snapshot = (): Promise<string> => {
    const now = Date.now();
    if (!shared || now - shared.at >= deps.tickMs) {
      shared = { at: now, body: readCluster(store).then((v) => JSON.stringify({ at: Date.now(), ...v })) };
      shared.body.catch(() => (shared = null));
    }
    return shared.body;
  };
  function events(req: Request): Response {
    const encoder = new TextEncoder();
    let closed = false;
    req.signal.addEventListener("abort", () => (closed = true));
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        while (!closed) {
          try {
            controller.enqueue(encoder.encode(`event: cluster\ndata: ${await snapshot()}\n\n`));
          } catch (e) {
            if ((e as Error).name === "TypeError" || closed) break; // the client went away
            controller.enqueue(encoder.encode(`event: problem\ndata: ${JSON.stringify({ message: (e as Error).message })}\n\n`));
          }
          await Bun.sleep(deps.tickMs);
        }
        try {
          controller.close();
        } catch {
          // already closed
        }
      },
      cancel() {
        closed = true;
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
  }

  async function topologyView(name: string): Promise<TopologyView> {
    const view = (await readCluster(store)).topologies.find((t) => t.name === name);
    if (!view) throw await unknownTopology(name);
    return view;
  }

  async function unknownTopology(name: string): Promise<ApiError> {
    const names = await store.topologyNames();
    return new ApiError(404, "E_NOT_FOUND", `no topology \`${name}\` is deployed`, didYouMean(name, names) || (names.length ? `deployed: ${names.join(", ")}` : "deploy one with `tempest deploy --project DIR`"));
  }

  async function setDesired(name: string, desired: TopologyState["desired"]): Promise<TopologyView> {
    const state = await store.topologyState(name);
    if (!state) throw await unknownTopology(name);
    // Start runs the newest deployed version.
    const versions = await store.versions(name);
    const version = desired === "running" ? (versions.at(-1) ?? state.version) : state.version;
    if (state.desired !== desired || state.version !== version) {
      await store.putTopologyState({ ...state, desired, version, changed_at: Date.now() });
      log.info(`${name} ${version}: ${desired === "running" ? "start" : "stop"} requested`);
    }
    deps.poke();
    return topologyView(name);
  }

  /** Rolling reload (DESIGN.md §9): the newest deployed version starts beside the running one. */
  async function reload(name: string): Promise<TopologyView> {
    const state = await store.topologyState(name);
    if (!state) throw await unknownTopology(name);
    const latest = (await store.versions(name)).at(-1) ?? state.version;
    if (state.desired !== "running") throw new ApiError(409, "E_CONFLICT", `${name} is stopped: there is nothing to reload`, `\`tempest start ${name}\` runs its newest version (${latest})`);
    if (state.reload) throw new ApiError(409, "E_CONFLICT", `${name} is already reloading from ${state.reload.from} to ${state.reload.to} (${state.reload.phase})`, "wait until it is done: `tempest status`");
    if (latest === state.version) throw new ApiError(409, "E_CONFLICT", `${name} already runs ${latest}, its newest version`, "deploy a new version first (raise `version`), then reload");
    await store.putTopologyState({ ...state, reload: { from: state.version, to: latest, phase: "starting", since: Date.now() }, changed_at: Date.now() });
    log.info(`${name}: reload ${state.version} → ${latest} requested`);
    deps.poke();
    return topologyView(name);
  }

  /** Live scale: one task's instance count, without restarting any other process. */
  async function scale(name: string, body: unknown): Promise<TopologyView> {
    const state = await store.topologyState(name);
    if (!state) throw await unknownTopology(name);
    const { task, workers } = (body ?? {}) as { task?: unknown; workers?: unknown };
    const d = await store.deployment(name, state.reload?.to ?? state.version);
    const tasks = d?.tasks.map((t) => t.name) ?? [];
    if (typeof task !== "string" || !tasks.includes(task)) {
      throw new ApiError(404, "E_NOT_FOUND", `topology \`${name}\` has no task \`${String(task)}\``, didYouMean(String(task), tasks) || `its tasks: ${tasks.join(", ")}`);
    }
    if (typeof workers !== "number" || !Number.isInteger(workers) || workers < 1 || workers > 1000) {
      throw new ApiError(400, "E_USAGE", `workers ${JSON.stringify(workers)} is not a whole number from 1 to 1000`, `e.g. tempest scale ${name} ${task}=3`);
    }
    // A worker hosting several tasks scales as one: each of them gets the count (the last scale wins).
    const hosted = (d ? workerOf(d, task)?.tasks : undefined) ?? [task];
    await store.putTopologyState({ ...state, workers: { ...state.workers, ...Object.fromEntries(hosted.map((t) => [t, workers])) }, changed_at: Date.now() });
    log.info(`${name}: scale ${task} to ${workers}${hosted.length > 1 ? ` (its worker hosts ${hosted.join(", ")})` : ""}`);
    deps.poke();
    return topologyView(name);
  }

  async function deploy(req: Request): Promise<Response> {
    const body = (await readJson(req)) as { manifest?: Manifest; timeouts?: Record<string, number> };
    const m = body.manifest;
    if (!m || !Array.isArray(m.topologies) || !Array.isArray(m.tasks) || typeof m.files !== "object") {
      throw new ApiError(400, "E_USAGE", "the deploy body needs `manifest` (target/build/manifest.json)");
    }
    const exe = (file: string): DeployedExecutable => {
      const f = m.files[file];
      if (!f || !SHA256_HEX.test(f.sha256)) throw new ApiError(400, "E_USAGE", `the manifest lists no sha256 for ${file}`, "build the project again");
      if (!artifacts.path(f.sha256)) throw new ApiError(400, "E_NOT_FOUND", `artifact ${f.sha256.slice(0, 12)}… (${file}) is not uploaded`, "upload it first: PUT /api/v1/artifacts/<sha256>, as `tempest deploy` does");
      return { executable: file, sha256: f.sha256, size: f.size };
    };
    const results: Array<{ topology: string; version: string; created: boolean; desired: string }> = [];
    for (const t of m.topologies) {
      const d: Deployment = {
        topology: t.name,
        version: t.version,
        project: m.project,
        deployed_at: Date.now(),
        graph: t.graph,
        edges: t.edges,
        topology_executable: exe(t.executable),
        tasks: m.tasks.filter((x) => x.topology === t.name).map((x) => ({ name: x.name, workers: x.workers, join: x.join, executable: exe(x.executable), ...(x.isolate ? { isolate: true } : {}) })),
        timeout_ms: Number(body.timeouts?.[t.name]) || 30_000,
      };
      const existing = await store.deployment(d.topology, d.version);
      if (existing && !sameContent(existing, d)) {
        throw new ApiError(409, "E_CONFLICT", `${d.topology} ${d.version} is already deployed with other executables`, `a version is immutable: raise \`version\` in the member file (or package.json) and deploy again`);
      }
      const { created } = existing ? { created: false } : await store.putDeployment(d);
      const state = await store.topologyState(d.topology);
      // A new topology starts stopped; a stopped one moves to the new version, a running one keeps running its version until `start` again.
      if (!state) await store.putTopologyState({ name: d.topology, version: d.version, desired: "stopped", changed_at: Date.now() });
      else if (state.desired === "stopped" && state.version !== d.version) await store.putTopologyState({ ...state, version: d.version, changed_at: Date.now() });
      results.push({ topology: d.topology, version: d.version, created, desired: state?.desired ?? "stopped" });
      log.info(`deployed ${d.topology} ${d.version}${created ? "" : " (unchanged)"}`);
    }
    return json({ deployed: results });
  }

  function artifact(sha: string): Response {
    const path = artifacts.path(sha);
    if (!path) throw new ApiError(404, "E_NOT_FOUND", `no artifact ${sha}`, "deploy the project that contains it");
    return new Response(Bun.file(path), { headers: { "content-type": "application/octet-stream" } });
  }

  async function upload(req: Request, sha: string): Promise<Response> {
    if (!req.body) throw new ApiError(400, "E_USAGE", "the upload has no body");
    const r = await artifacts.put(sha, req.body);
    if (r.stored) log.info(`stored artifact ${sha.slice(0, 12)}… (${(r.size / 1024 / 1024).toFixed(1)} MiB)`);
    return json({ sha256: sha, size: r.size, stored: r.stored }, r.stored ? 201 : 200);
  }

  async function logs(req: Request, name: string, url: URL): Promise<Response> {
    const state = await store.topologyState(name);
    if (!state) throw await unknownTopology(name);
    const q = url.searchParams;
    const filter: LogFilter = {};
    if (q.get("task")) {
      filter.task = q.get("task")!;
      const tasks = (await store.deployment(name, state.version))?.tasks.map((t) => t.name) ?? [];
      if (tasks.length && filter.task !== "topology" && !tasks.includes(filter.task)) {
        throw new ApiError(404, "E_NOT_FOUND", `topology \`${name}\` has no task \`${filter.task}\``, didYouMean(filter.task, [...tasks, "topology"]) || `its tasks: ${tasks.join(", ")}`);
      }
    }
    if (q.get("instance")) filter.instance = Number(q.get("instance"));
    const n = Math.min(Math.max(Number(q.get("n") ?? 50) || 0, 0), 10_000);
    const key = store.keys.logs(name);
    const follow = q.get("follow") === "1" || q.get("follow") === "true";
    const from = follow ? await lastLogId(store.redis, key) : "";
    const around = q.get("around") ? Number(q.get("around")) : undefined;
    if (around !== undefined && !Number.isFinite(around)) throw new ApiError(400, "E_USAGE", `around=${q.get("around")} is not a time in ms since the epoch`);
    const recent = n > 0 ? await recentLogs(store.redis, key, filter, n, around) : [];
    const encoder = new TextEncoder();
    const ndjson = (lines: unknown[]) => encoder.encode(lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
    if (!follow) return new Response(ndjson(recent), { headers: { "content-type": "application/x-ndjson" } });
    // Follow: a blocking reader of its own, ended when the client goes away.
    const reader = store.redis.duplicate();
    let closed = false;
    const close = () => {
      closed = true;
      reader.disconnect();
    };
    req.signal.addEventListener("abort", close);
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(ndjson(recent));
        let last = from;
        try {
          while (!closed) {
            const next = await nextLogs(reader, key, last, filter, 1_000);
            last = next.last;
            // An empty line keeps the connection alive and tells a closed client apart.
            controller.enqueue(next.lines.length ? ndjson(next.lines) : encoder.encode("\n"));
          }
        } catch {
          // client gone or Redis away: end the stream
        }
        close();
        try {
          controller.close();
        } catch {
          // already closed
        }
      },
      cancel: close,
    });
    return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
  }

  return async (req) => {
    const url = new URL(req.url);
    try {
      // The dashboard's page and assets are public; everything it shows comes from the API.
      if (req.method === "GET" && (url.pathname === "/" || url.pathname.startsWith("/assets/"))) {
        return dashboardAsset(url.pathname) ?? errorResponse(404, "E_NOT_FOUND", `no such asset: ${url.pathname}`);
      }
      if (!url.pathname.startsWith("/api/") && url.pathname !== "/metrics") return errorResponse(404, "E_NOT_FOUND", `no such page: ${url.pathname}`, "the API is under /api/v1; the dashboard is at /");
      if (!authorized(req, deps.token)) {
        return errorResponse(401, "E_UNAUTHORIZED", req.headers.get("authorization") ? "the bearer token is wrong" : "this director needs a token", "set TEMPEST_TOKEN to the director's token (sent as Authorization: Bearer)");
      }
      let methodMismatch = false;
      for (const [method, re, handler] of routes) {
        const m = re.exec(url.pathname);
        if (!m) continue;
        if (method !== req.method) {
          methodMismatch = true;
          continue;
        }
        return await handler(req, m.slice(1).map(decodeURIComponent), url);
      }
      return methodMismatch ? errorResponse(405, "E_USAGE", `${req.method} is not allowed on ${url.pathname}`) : errorResponse(404, "E_NOT_FOUND", `no API route ${req.method} ${url.pathname}`, "see DESIGN.md §9 for the routes");
    } catch (e) {
      return toErrorResponse(e, log);
    }
  };
}

function sameContent(a: Deployment, b: Deployment): boolean {
  const k = (d: Deployment) => JSON.stringify([d.topology_executable.sha256, d.tasks.map((t) => [t.name, t.workers, t.join, t.executable.sha256])]);
  return k(a) === k(b);
}
