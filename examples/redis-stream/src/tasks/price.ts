import { defineTask } from "tempest";

export default defineTask<{ id: string; amount: number }, { total: number }>({
  handle(order) {
    return { total: Math.round(order.amount * 120) / 100 };
  },
});
