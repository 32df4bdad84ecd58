import { defineTask } from "tempest";

/** Stream entries arrive as their field map of strings: { id: "7", amount: "19.90" }. */
export default defineTask<{ id?: string; amount?: string }, { id: string; amount: number }>({
  handle(entry) {
    const amount = Number(entry.amount);
    if (!entry.id || !Number.isFinite(amount)) throw new Error(`not an order: ${JSON.stringify(entry)}`);
    return { id: entry.id, amount };
  },
});
