import type { Redis } from "ioredis";

/**
 * Wake-ups (DESIGN.md §8): the director publishes an agent's name on `assign-wake` after it
 * writes that agent's assignment. A wake only makes the agent read now instead of at its next
 * beat; one lost while the connection was down costs a beat of latency, nothing else.
 */
export function listenForWakeups(sub: Redis, channel: string, name: string, onWake: () => void): () => void {
  const onMessage = (ch: string, message: string) => {
    if (ch === channel && message === name) onWake();
  };
  sub.on("message", onMessage);
  // ioredis subscribes again by itself after a reconnect; a read on `ready` covers the gap.
  sub.subscribe(channel).catch(() => {});
  sub.on("ready", onWake);
  return () => {
    sub.off("message", onMessage);
    sub.off("ready", onWake);
    sub.disconnect();
  };
}
