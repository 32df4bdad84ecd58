import { isTempestError } from "../../core/errors.ts";
import type { ControlHandler } from "./control-server.ts";
import type { WireError } from "./protocol.ts";
import type { Supervisor } from "./supervisor.ts";

/** Answers control requests from a supervisor's methods; errors travel as TempestError fields. */
export function controlHandler(sup: Supervisor): ControlHandler {
  return async (req, conn) => {
    const ok = { ok: true as const, pid: process.pid };
    try {
      switch (req.type) {
        case "status":
          conn.reply({ ...ok, status: sup.status() });
          break;
        case "start":
          conn.reply({ ...ok, status: await sup.startProcess(req.name) });
          break;
        case "stop":
          conn.reply({ ...ok, status: await sup.stopProcess(req.name) });
          break;
        case "restart":
          conn.reply({ ...ok, status: await sup.restartProcess(req.name) });
          break;
        case "signal":
          conn.reply({ ...ok, status: await sup.signalProcess(req.name, req.signal) });
          break;
        case "reload":
          conn.reply({ ...ok, reload: await sup.reload() });
          break;
        case "reopen":
          sup.reopenLogs();
          conn.reply({ ...ok, message: "log files reopened" });
          break;
        case "logs": {
          // Tail and tap in the same tick: no line is lost or shown twice between them.
          const tail = sup.tailLogs(req.name, req.lines);
          conn.reply(ok);
          conn.send(tail);
          if (!req.follow) break;
          const off = sup.followLogs(req.name, (b) => {
            if (!conn.send(b)) off();
          }, () => conn.end());
          conn.onClose(off);
          return;
        }
      }
    } catch (e) {
      conn.reply({ ok: false, error: toWire(e) });
    }
    conn.end();
  };
}

function toWire(e: unknown): WireError {
  if (isTempestError(e)) return { code: e.code, message: e.message, hint: e.hint, exitCode: e.exitCode, problems: e.problems.length ? e.problems : undefined };
  return { code: "E_RUNTIME", message: (e as Error)?.message ?? String(e), exitCode: 1 };
}
