import { defineTask } from "tempest";
import type { Event } from "./parse.ts";

const totals = new Map<string, { events: number; amount: number }>();

/** Keeps a running total per user (in this process) and logs it when the task stops. */
export default defineTask<Event, { user: string; events: number; amount: number }>({
  handle(event) {
    const t = totals.get(event.user) ?? { events: 0, amount: 0 };
    t.events++;
    t.amount += event.amount;
    totals.set(event.user, t);
    return { user: event.user, ...t };
  },
  close(ctx) {
    // By user, so the line reads the same whichever parse worker finished first.
    const byUser = [...totals].sort(([a], [b]) => a.localeCompare(b));
    ctx.log.info(`totals: ${byUser.map(([user, t]) => `${user} ${t.events} events, ${t.amount}`).join("; ") || "no events"}`);
  },
});
