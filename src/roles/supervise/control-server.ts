import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { TempestError } from "../../core/errors.ts";
import { parseRequest, type ControlRequest, type ControlResponse } from "./protocol.ts";

/** One client connection, as a request handler sees it. */
export interface ControlConnection {
  reply(res: ControlResponse): void;
  /** Raw bytes after the response line (logs). False once the client fell too far behind and was dropped. */
  send(bytes: Uint8Array): boolean;
  end(): void;
  onClose(fn: () => void): void;
}

export type ControlHandler = (req: ControlRequest, conn: ControlConnection) => void | Promise<void>;

export interface ControlServer {
  close(): Promise<void>;
}

const MAX_REQUEST = 64 * 1024;
/** A `logs -f` client that stops reading is cut off here, rather than buffering without bound. */
const MAX_BACKLOG = 16 * 1024 * 1024;

/**
 * Listens on a unix socket only its owner may use (0600). A socket file left by a supervisor
 * that died is replaced; one that answers belongs to a live supervisor, and this one refuses
 * to start rather than steal it.
 */
export async function listenControl(path: string, handle: ControlHandler): Promise<ControlServer> {
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    serve(socket, handle);
  });
  try {
    await listen(server, path);
  } catch (e) {
    if ((e as { code?: string }).code !== "EADDRINUSE") throw listenError(path, e);
    if (!isSocket(path)) throw new TempestError("E_ROLE_START", `${path} exists and is not a socket`, { hint: "remove it, or choose another `socket` path", exitCode: 1 });
    if (await answers(path)) {
      throw new TempestError("E_ROLE_START", `another supervisor is already running on ${path}`, { hint: "stop it first, or give this one another `socket` in [supervise]", exitCode: 1 });
    }
    unlinkSync(path); // stale: its supervisor died without removing it
    try {
      await listen(server, path);
    } catch (again) {
      throw listenError(path, again);
    }
  }
  chmodSync(path, 0o600);
  return {
    // server.close() waits for every connection to end: an idle client must not hold up a shutdown.
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          if (isSocket(path)) unlinkSync(path);
          resolve();
        });
        for (const s of open) s.destroy();
      }),
  };
}

function listen(server: Server, path: string): Promise<void> {
  // No window in which the socket is group- or world-accessible.
  const umask = process.umask(0o177);
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  }).finally(() => process.umask(umask));
}

function listenError(path: string, e: unknown): TempestError {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return new TempestError("E_CONFIG_INVALID", `cannot create the control socket ${path}: its folder does not exist`, { hint: "create the folder, or point `socket` at an existing one", exitCode: 2 });
  if (code === "EACCES") return new TempestError("E_ROLE_START", `cannot create the control socket ${path}: permission denied`, { hint: "choose a folder you can write to", exitCode: 1 });
  return new TempestError("E_ROLE_START", `cannot listen on ${path}: ${(e as Error).message}`, { exitCode: 1, cause: e });
}

function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/** True when something accepts connections on the socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function serve(socket: Socket, handle: ControlHandler): void {
  let buffered = "";
  let started = false;
  const conn: ControlConnection = {
    reply: (res) => {
      socket.write(`${JSON.stringify(res)}\n`);
    },
    send: (bytes) => {
      if (socket.destroyed) return false;
      if (socket.writableLength > MAX_BACKLOG) {
        socket.destroy();
        return false;
      }
      socket.write(bytes);
      return true;
    },
    end: () => socket.end(),
    onClose: (fn) => socket.once("close", fn),
  };
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk) => {
    if (started) return;
    buffered += chunk.toString("utf8");
    const nl = buffered.indexOf("\n");
    if (nl < 0) {
      if (buffered.length > MAX_REQUEST) socket.destroy();
      return;
    }
    started = true;
    const req = parseRequest(buffered.slice(0, nl));
    if (typeof req === "string") {
      conn.reply({ ok: false, error: { code: "E_USAGE", message: `bad control request: ${req}`, exitCode: 2 } });
      conn.end();
      return;
    }
    void Promise.resolve()
      .then(() => handle(req, conn))
      .catch((e) => {
        conn.reply({ ok: false, error: { code: "E_RUNTIME", message: String((e as Error)?.message ?? e), exitCode: 1 } });
        conn.end();
      });
  });
}
