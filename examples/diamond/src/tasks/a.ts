import { defineTask } from "tempest";

/** Normalises an order: the root of the diamond. */
export default defineTask<{ id: number; amount: number }, { id: number; amount: number }>({
  handle(order) {
    return { id: order.id, amount: Math.round(order.amount * 100) / 100 };
  },
});
