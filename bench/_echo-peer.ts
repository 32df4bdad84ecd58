/**
 * The baseline's far end: a Bun process that answers every `deliver` frame with a `done`,
 * over the same framing and codec as a task. Started by diamond.bench.ts; prints its port.
 */
import { createServer } from "node:net";
import { FramedConnection } from "../src/roles/connection.ts";

const server = createServer((socket) => {
  const conn = new FramedConnection(socket);
  socket.on("data", (chunk: Buffer) => {
    for (const f of conn.decode(chunk) as Array<{ delivery: number; msg: Uint8Array }>) {
      conn.send({ type: "done", delivery: f.delivery, outputs: [f.msg], ms: 0 });
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  const addr = server.address();
  console.log(typeof addr === "object" && addr ? addr.port : 0);
});
