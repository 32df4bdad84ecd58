import { createConnection } from "node:net";
import { TempestError } from "../../core/errors.ts";
import type { ControlRequest, ControlResponse } from "./protocol.ts";

export type ControlOk = Extract<ControlResponse, { ok: true }>;

/**
 * Sends one request to a supervisor and returns its answer; an error answer is rethrown as the
 * TempestError the supervisor raised. `onBytes` receives what follows the answer (logs).
 */
export function controlRequest(socketPath: string, req: ControlRequest, onBytes?: (bytes: Uint8Array) => void): Promise<ControlOk> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let head = Buffer.alloc(0);
    let answer: ControlOk | undefined;
    socket.once("connect", () => socket.write(`${JSON.stringify(req)}\n`));
    socket.on("error", (e) => reject(connectError(socketPath, e)));
    socket.on("data", (chunk: Buffer) => {
      if (answer) {
        onBytes?.(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl < 0) return;
      let res: ControlResponse;
      try {
        res = JSON.parse(head.subarray(0, nl).toString("utf8")) as ControlResponse;
      } catch {
        socket.destroy();
        reject(new TempestError("E_RUNTIME", `${socketPath} answered something that is not a supervisor's reply`, { exitCode: 1 }));
        return;
      }
      if (!res.ok) {
        socket.destroy();
        const { code, message, hint, exitCode, problems } = res.error;
        reject(new TempestError(code, message, { hint, exitCode, problems }));
        return;
      }
      answer = res;
      const rest = head.subarray(nl + 1);
      if (rest.length) onBytes?.(rest);
    });
    socket.on("close", () => {
      if (answer) resolve(answer);
      else reject(new TempestError("E_RUNTIME", `the supervisor at ${socketPath} closed the connection without answering`, { hint: "see the supervisor's own output", exitCode: 1 }));
    });
  });
}

function connectError(socketPath: string, e: unknown): TempestError {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT" || code === "ECONNREFUSED") {
    return new TempestError("E_RUNTIME", `no supervisor running at ${socketPath}`, { hint: "start one with `tempest supervise [CONFIG]`, or point --socket/--config at the right one", exitCode: 1 });
  }
  if (code === "EACCES") return new TempestError("E_RUNTIME", `cannot connect to ${socketPath}: permission denied`, { hint: "run as the user that started the supervisor", exitCode: 1 });
  return new TempestError("E_RUNTIME", `cannot talk to the supervisor at ${socketPath}: ${(e as Error).message}`, { exitCode: 1 });
}
