import type { ClusterView, TopologyView } from "../views.ts";
import type { LogLine } from "../logs.ts";
import { DagView, SOURCE_NODE, type NodeFigures } from "./dag.ts";

/**
 * The dashboard (DESIGN.md §9): one Server-Sent Events stream from the director carries the
 * whole cluster once a second (aggregated there), one NDJSON stream the selected topology's log
 * tail. With TEMPEST_TOKEN set on the director, the token typed in the header goes with every
 * request as a bearer; it is kept for this tab only.
 */
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const tokenInput = $<HTMLInputElement>("token");
tokenInput.value = sessionStorage.getItem("tempest-token") ?? "";
let selected: string | null = decodeURIComponent(location.hash.slice(1)) || null;
let latest: (ClusterView & { at: number }) | null = null;
/** The previous snapshot's counters, for rates per second. */
let previous: { at: number; read: Map<string, number>; handled: Map<string, number> } | null = null;
let rates = { read: new Map<string, number>(), handled: new Map<string, number>() };
const dag = new DagView($("dag") as unknown as SVGSVGElement);
let events: AbortController | null = null;
let logs: AbortController | null = null;
let logTopology: string | null = null;

const auth = (): Record<string, string> => (tokenInput.value ? { authorization: `Bearer ${tokenInput.value}` } : {});
const say = (text: string) => ($("message").textContent = text);

tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("tempest-token", tokenInput.value);
  connect();
  if (logTopology) followLogs(logTopology, true);
});
window.addEventListener("hashchange", () => select(decodeURIComponent(location.hash.slice(1)) || null));
// One listener for every row, present and future: rows are replaced when what they show changes.
$("topologies").addEventListener("click", (ev) => {
  const row = (ev.target as Element).closest<HTMLElement>(".topology");
  if (row?.dataset.topology) location.hash = encodeURIComponent(row.dataset.topology);
});

/** Reads a streamed body line by line (SSE frames and NDJSON both are lines). */
async function lines(res: Response, onLine: (line: string) => void): Promise<void> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    rest += decoder.decode(value, { stream: true });
    const parts = rest.split("\n");
    rest = parts.pop() ?? "";
    parts.forEach(onLine);
  }
}

async function connect(): Promise<void> {
  events?.abort();
  const controller = new AbortController();
  events = controller;
  const live = $("live");
  try {
    const res = await fetch("/api/v1/events", { headers: auth(), signal: controller.signal });
    if (res.status === 401) {
      live.className = "badge off";
      say("This director needs its token: type TEMPEST_TOKEN in the box above.");
      return;
    }
    if (!res.ok) throw new Error(`the director answered ${res.status}`);
    live.className = "badge on";
    say("");
    let event = "";
    await lines(res, (line) => {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ") && event === "cluster") render(JSON.parse(line.slice(6)));
      else if (line.startsWith("data: ") && event === "problem") say(`the director cannot read its state: ${JSON.parse(line.slice(6)).message}`);
    });
  } catch (e) {
    if (controller.signal.aborted) return;
    say(`lost the director (${(e as Error).message}); reconnecting…`);
  }
  if (controller.signal.aborted) return;
  live.className = "badge off";
  setTimeout(() => events === controller && connect(), 1000);
}

function render(c: ClusterView & { at: number }): void {
  latest = c;
  // When the page last got an update: what a person sees as "live", and what tests measure.
  document.body.dataset.updatedAt = String(c.at);
  updateRates(c);
  const alive = c.agents.filter((a) => a.alive);
  $("cluster-line").textContent = `${alive.length}/${c.agents.length} agents alive · ${alive.reduce((n, a) => n + a.used, 0)}/${alive.reduce((n, a) => n + a.slots, 0)} slots used · ${c.topologies.length} topolog${c.topologies.length === 1 ? "y" : "ies"}`;
  fillRows($("agents").querySelector("tbody")!, c.agents.map((a) => [a.name, a.host ?? "-", { text: a.alive ? "alive" : "lost", cls: a.alive ? "alive" : "lost" }, `${a.used}/${a.slots}`, a.heartbeat_age_s === null ? "-" : `${a.heartbeat_age_s.toFixed(1)} s ago`]));
  renderTopologies(c.topologies);
  if (!selected && c.topologies[0]) select(c.topologies[0].name);
  else renderDetail();
}

function updateRates(c: ClusterView & { at: number }): void {
  const read = new Map(c.topologies.map((t) => [t.name, t.stats?.source.read ?? 0]));
  const handled = new Map(c.topologies.flatMap((t) => Object.entries(t.stats?.tasks ?? {}).map(([task, x]) => [`${t.name}/${task}`, x.handled] as [string, number])));
  if (previous && c.at > previous.at) {
    const dt = (c.at - previous.at) / 1000;
    const rate = (now: Map<string, number>, before: Map<string, number>) => new Map([...now].map(([k, v]) => [k, Math.max(0, (v - (before.get(k) ?? v)) / dt)]));
    rates = { read: rate(read, previous.read), handled: rate(handled, previous.handled) };
  }
  previous = { at: c.at, read, handled };
}

function renderTopologies(ts: TopologyView[]): void {
  const box = $("topologies");
  // Made anew only when what they show changed (see fillRows): a click on a row is not lost.
  const shown = JSON.stringify([selected, ts.map((t) => [t.name, t.version, t.status, t.reason ?? ""])]);
  if (box.dataset.shown === shown) return;
  box.dataset.shown = shown;
  if (ts.length === 0) {
    box.textContent = "No topology deployed yet: tempest deploy --project DIR";
    return;
  }
  box.replaceChildren(...ts.map((t) => {
    const row = document.createElement("div");
    row.className = `topology${t.name === selected ? " selected" : ""}`;
    row.dataset.topology = t.name;
    row.innerHTML = `<strong></strong><span class="muted"></span><span class="status"></span><span class="muted"></span>`;
    const [name, version, status, reason] = row.children as unknown as HTMLElement[];
    name!.textContent = t.name;
    version!.textContent = t.version;
    status!.textContent = t.status;
    status!.className = `status ${t.status}`;
    reason!.textContent = t.reason ?? "";
    return row;
  }));
}

function select(name: string | null): void {
  selected = name;
  if (latest) renderTopologies(latest.topologies);
  renderDetail();
  if (name && name !== logTopology) followLogs(name, true);
}

function renderDetail(): void {
  const t = latest?.topologies.find((x) => x.name === selected);
  const detail = $("detail");
  detail.hidden = !t;
  if (!t) return;
  $("detail-title").textContent = `${t.name} ${t.version} — ${t.status}`;
  $("detail-reason").textContent = t.reason ?? (t.versions.length > 1 ? `deployed versions: ${t.versions.join(", ")}` : "");
  renderActions(t);
  const figures = new Map<string, NodeFigures>();
  const s = t.stats;
  figures.set(SOURCE_NODE, { state: "source", lines: [`${fmt(rates.read.get(t.name) ?? 0)} read/s · pending ${s?.source.pending ?? 0}`, `lag ${s?.source.lag ?? "-"} · dead ${s?.source.dead_lettered ?? 0}`] });
  for (const task of t.tasks.map((x) => x.name)) {
    const x = s?.tasks[task];
    const state = !x || x.inflight === 0 ? "idle" : x.queued > 0 ? "backpressured" : "busy";
    const n = t.workers[task] ?? 1;
    figures.set(task, { state, badge: `×${n}`, lines: [`${fmt(rates.handled.get(`${t.name}/${task}`) ?? 0)}/s · handled ${x?.handled ?? 0}`, `err ${x?.errors ?? 0} · in-flight ${x?.inflight ?? 0} · p99 ${x ? x.p99_ms.toFixed(1) : "-"} ms`] });
  }
  dag.render(t.tasks.map((x) => x.name), t.edges, figures);
  const src = $("source");
  src.replaceChildren(...[
    ["read/s", fmt(rates.read.get(t.name) ?? 0)], ["read", s?.source.read ?? 0], ["pending", s?.source.pending ?? 0], ["lag", s?.source.lag ?? "-"],
    ["acked", s?.source.acked ?? 0], ["dead-lettered", s?.source.dead_lettered ?? 0], ["retried", s?.retried ?? 0],
  ].flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = String(k);
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    dd.dataset.figure = String(k);
    return [dt, dd];
  }));
  fillRows($("processes").querySelector("tbody")!, t.processes.map((p) => [p.kind === "topology" ? "topology" : `${p.task}#${p.instance}`, p.version, { text: p.agent, cls: p.agent_alive ? "" : "lost" }, p.state, String(p.pid ?? "-"), String(p.restarts)]));
  const errors = [...(s?.recent_errors ?? [])].reverse();
  fillRows($("errors").querySelector("tbody")!, errors.map((e) => [new Date(e.at).toLocaleTimeString(), e.task ? `${e.task}#${e.instance}` : "-", e.msg_id, e.outcome.replace("_", "-"), `${e.error}${e.where ? ` at ${e.where}` : ""}`, {
    text: "log", key: `${t.name}/${e.at}`, link: () => showLogsAround(t.name, e.task, e.instance, e.at),
  }]));
}

function renderActions(t: TopologyView): void {
  const box = $("detail-actions");
  const key = `${t.name}/${t.desired}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const button = (label: string, run: () => void) => {
    const b = document.createElement("button");
    b.textContent = label;
    b.dataset.action = label;
    b.addEventListener("click", run);
    return b;
  };
  box.replaceChildren(
    button("start", () => act(t.name, "start")),
    button("stop", () => act(t.name, "stop")),
    button("reload", () => act(t.name, "reload")),
    button("scale", () => {
      const answer = prompt(`scale which task of ${t.name}, to how many instances? (TASK=N)`, `${t.tasks[0]?.name ?? "task"}=2`);
      const m = answer ? /^([^=]+)=(\d+)$/.exec(answer.trim()) : null;
      if (m) act(t.name, "scale", { task: m[1], workers: Number(m[2]) });
      else if (answer) say(`${answer} is not TASK=N`);
    }),
  );
}

async function act(name: string, what: string, body?: unknown): Promise<void> {
  const res = await fetch(`/api/v1/topologies/${encodeURIComponent(name)}/${what}`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.ok) {
    say(`${what} ${name}: accepted`);
    return;
  }
  const e = ((await res.json().catch(() => ({}))) as { error?: { message?: string; hint?: string } }).error;
  say(res.status === 401 ? `${what} refused: this director needs its token (type it above)` : `${what} ${name}: ${e?.message ?? res.status}${e?.hint ? ` — ${e.hint}` : ""}`);
}

/** The live log tail of the selected topology, from every agent. */
async function followLogs(name: string, fresh: boolean): Promise<void> {
  logs?.abort();
  const controller = new AbortController();
  logs = controller;
  logTopology = name;
  const pre = $("log");
  if (fresh) pre.textContent = "";
  $("log-filter").textContent = "(live, all processes)";
  try {
    const res = await fetch(`/api/v1/topologies/${encodeURIComponent(name)}/logs?follow=1&n=100`, { headers: auth(), signal: controller.signal });
    if (!res.ok) return;
    await lines(res, (line) => line.trim() && appendLog(pre, JSON.parse(line) as LogLine));
  } catch {
    // aborted, or the director went away: the events stream reconnects, and so do we
  }
  if (!controller.signal.aborted) setTimeout(() => logs === controller && followLogs(name, false), 2000);
}

async function showLogsAround(name: string, task: string | null, instance: string | null, at: number): Promise<void> {
  logs?.abort();
  logTopology = null;
  const q = new URLSearchParams({ n: "40", around: String(at) });
  if (task) q.set("task", task);
  if (instance !== null && task) q.set("instance", instance);
  const res = await fetch(`/api/v1/topologies/${encodeURIComponent(name)}/logs?${q}`, { headers: auth() });
  const pre = $("log");
  pre.textContent = "";
  $("log-filter").textContent = `(${task ? `${task}#${instance}` : "all processes"} around ${new Date(at).toLocaleTimeString()}) `;
  const back = document.createElement("button");
  back.textContent = "back to live";
  back.addEventListener("click", () => followLogs(name, true));
  $("log-filter").append(back);
  if (res.ok) for (const line of (await res.text()).split("\n")) if (line.trim()) appendLog(pre, JSON.parse(line) as LogLine);
}

function appendLog(pre: HTMLElement, l: LogLine): void {
  const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.append(`${new Date(l.at).toLocaleTimeString()} ${l.agent} ${l.kind === "topology" ? "topology" : `${l.task}#${l.instance}`} | ${l.line}\n`);
  while (pre.childNodes.length > 500) pre.firstChild?.remove();
  if (stick) pre.scrollTop = pre.scrollHeight;
}

/** A cell: its text, a class, and a link with a key that says what the link does (its closure is not comparable). */
type Cell = string | { text: string; cls?: string; link?: () => void; key?: string };
/**
 * Replaces the rows only when what they show changed: rows made anew on every update would
 * swallow a click whose mousedown and mouseup straddle the update, and reset a text selection.
 */
function fillRows(tbody: HTMLElement, rows: Cell[][]): void {
  const shown = JSON.stringify(rows.map((cells) => cells.map((c) => (typeof c === "string" ? c : [c.text, c.cls ?? "", c.key ?? ""]))));
  if (tbody.dataset.shown === shown) return;
  tbody.dataset.shown = shown;
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (typeof c === "string") td.textContent = c;
      else if (c.link) {
        const a = document.createElement("a");
        a.href = "#";
        a.textContent = c.text;
        a.addEventListener("click", (ev) => {
          ev.preventDefault();
          c.link!();
        });
        td.append(a);
      } else {
        td.textContent = c.text;
        if (c.cls) td.className = c.cls;
      }
      tr.append(td);
    }
    return tr;
  }));
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

connect();
