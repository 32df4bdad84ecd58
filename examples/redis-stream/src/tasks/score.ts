import { defineTask } from "tempest";

export default defineTask<{ id: string; amount: number }, { risk: "low" | "high" }>({
  async handle(order) {
    return { risk: order.amount > 500 ? "high" : "low" };
  },
});
