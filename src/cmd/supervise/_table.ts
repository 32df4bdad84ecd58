import type { InstanceStatus } from "../../roles/supervise/instance.ts";

/** The status table: one row per instance, a REASON column only when something has one. */
export function formatStatus(rows: InstanceStatus[]): string {
  if (rows.length === 0) return "no processes";
  const withReason = rows.some((r) => r.reason && (r.state === "fatal" || r.state === "exited"));
  const header = ["NAME", "#", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "NEXT RETRY", "RSS", ...(withReason ? ["REASON"] : [])];
  const cells = rows.map((r) => [
    r.name,
    String(r.instance),
    r.state,
    r.pid === null ? "-" : String(r.pid),
    r.uptime_ms === null ? "-" : duration(r.uptime_ms),
    String(r.restarts),
    r.last_exit === null ? "-" : r.last_exit.signal ?? `code ${r.last_exit.code}`,
    r.next_retry_ms === null ? "-" : `${(r.next_retry_ms / 1000).toFixed(1)} s`,
    r.rss_bytes === null ? "-" : `${(r.rss_bytes / 1024 / 1024).toFixed(1)} MB`,
    ...(withReason ? [r.state === "fatal" || r.state === "exited" ? r.reason ?? "" : ""] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(header), ...cells.map(line)].join("\n");
}

/** 59s, 3m12s, 4h05m, 2d03h */
export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor(s / 3600) % 24).padStart(2, "0")}h`;
}
