export { awaitsFirstDelivery, initialLifecycle, isDone, isStopping, next, readsSource } from "./lifecycle.ts";
export type { Lifecycle, LifecycleEvent, LifecycleLog, LifecycleState, Transition } from "./lifecycle.ts";
