import { defineTask } from "tempest";
import type { Order } from "./normalize.ts";

/** The other branch: a risk score (an async handler works the same way). */
export default defineTask<Order, { id: number; risk: "low" | "high" }>({
  async handle(order) {
    return { id: order.id, risk: order.amount > 500 ? "high" : "low" };
  },
});
