import type { Socket } from "node:net";
import { FrameDecoder, encodeFrames } from "../codec/index.ts";
import { clock } from "./clock.ts";

/**
 * A framed peer over a node:net socket. Outgoing frames are queued and written once per tick
 * as one buffer (TCP_NODELAY is on; batching doubles frames/s), and the queue is held while
 * the kernel pushes back (`drain`), so a slow peer slows us instead of growing memory.
 */
export class FramedConnection {
  private readonly decoder: FrameDecoder;
  private out: unknown[] = [];
  private flushScheduled = false;
  private waitingForDrain = false;
  closed = false;
  lastSeen = clock();

  constructor(readonly socket: Socket, opts: { maxFrame?: number } = {}) {
    this.decoder = new FrameDecoder({ maxFrame: opts.maxFrame });
    socket.setNoDelay(true);
    socket.on("drain", () => {
      this.waitingForDrain = false;
      this.flush();
    });
    socket.on("close", () => {
      this.closed = true;
    });
  }

  /** The largest frame accepted from now on (a handshake raises it). */
  set maxFrame(n: number) {
    this.decoder.maxFrame = n;
  }

  /** Decodes a chunk; throws CodecError on a bad frame (the caller closes the connection). */
  decode(chunk: Uint8Array): unknown[] {
    this.lastSeen = clock();
    return this.decoder.push(chunk);
  }

  send(frame: unknown): void {
    if (this.closed) return;
    this.out.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  get queued(): number {
    return this.out.length;
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.waitingForDrain || this.out.length === 0) return;
    const frames = this.out;
    this.out = [];
    if (!this.socket.write(encodeFrames(frames))) this.waitingForDrain = true;
  }

  /** Sends what is queued, then closes. */
  end(): void {
    this.flush();
    this.socket.end();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
