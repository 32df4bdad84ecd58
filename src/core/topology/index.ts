export { awaitsFirstDelivery, initialLifecycle, isDone, isStopping, next, readsSource } from "./lifecycle.ts";
export type { Lifecycle, LifecycleEvent, LifecycleLog, LifecycleState, Transition } from "./lifecycle.ts";
export { acceptTask, refusePeer } from "./handshake.ts";
export type { HandshakeContext, PeerHello, Refusal, TaskHelloFacts } from "./handshake.ts";
