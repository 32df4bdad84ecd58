import { defineTask } from "tempest";
import type { Order } from "./normalize.ts";

/** One branch: the tax on an order. */
export default defineTask<Order, { id: number; tax: number }>({
  handle(order) {
    return { id: order.id, tax: Math.round(order.amount * 20) / 100 };
  },
});
