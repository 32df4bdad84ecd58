import { connect } from "node:net";
import { PROTOCOL_VERSION, parseTopologyToControl, type TopologyToControl } from "../../protocol/topology-task.ts";
import { FramedConnection } from "../connection.ts";
import { proofFor } from "../../core/auth.ts";
import type { TopologySummary } from "./summary.ts";

/**
 * A control connection to a topology's port: asks for its live stats or a graceful shutdown.
 * Used by `tempest run`'s progress line, tests and tools; the same handshake as a task, with
 * role "control". It always settles: with the answer, or rejected on an error, a bad frame, a
 * connection closed before the answer (a topology that is finishing) or the timeout.
 */
export async function controlRequest(host: string, port: number, request: "stats_request" | "shutdown_request", timeoutMs = 5_000, token = process.env.TEMPEST_TOKEN): Promise<TopologySummary | undefined> {
  const socket = connect({ host, port });
  const conn = new FramedConnection(socket);
  try {
    return await new Promise<TopologySummary | undefined>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      socket.on("error", fail);
      // After an answer this rejects a settled promise, which does nothing.
      socket.on("close", () => fail(new Error(`${host}:${port} closed the connection before answering`)));
      socket.on("data", (chunk: Buffer) => {
        let frames: TopologyToControl[];
        try {
          frames = conn.decode(chunk).map(parseTopologyToControl);
        } catch (e) {
          // Thrown from an event handler it would be uncaught, and end the caller's process.
          fail(e as Error);
          return;
        }
        for (const msg of frames) {
          if (msg.type === "challenge") {
            conn.send({ type: "hello", version: PROTOCOL_VERSION, role: "control", ...(token ? { proof: proofFor(token, msg.nonce) } : {}) });
          } else if (msg.type === "welcome") {
            conn.send({ type: request });
            if (request === "shutdown_request") {
              conn.flush();
              clearTimeout(timer);
              resolve(undefined);
            }
          } else if (msg.type === "stats") {
            clearTimeout(timer);
            resolve(msg.stats as TopologySummary);
          } else if (msg.type === "reject") {
            clearTimeout(timer);
            reject(new Error(msg.reason));
          }
        }
      });
    });
  } finally {
    conn.end();
  }
}
