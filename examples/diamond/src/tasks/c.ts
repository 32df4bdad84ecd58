import { defineTask } from "tempest";

/** The other branch: a risk score. */
export default defineTask<{ id: number; amount: number }, { risk: "low" | "high" }>({
  async handle(order) {
    return { risk: order.amount > 500 ? "high" : "low" };
  },
});
