import { defineTask } from "tempest";

export interface Order {
  id: number;
  amount: number;
}

/** The root: every order from the source comes here first, and goes on to tax and risk. */
export default defineTask<{ id: number; amount: number | string }, Order>({
  handle(order) {
    return { id: order.id, amount: Math.round(Number(order.amount) * 100) / 100 };
  },
});
