import { defineTask } from "tempest";

/** One branch: the tax on the order. */
export default defineTask<{ id: number; amount: number }, { tax: number }>({
  handle(order) {
    return { tax: Math.round(order.amount * 20) / 100 };
  },
});
