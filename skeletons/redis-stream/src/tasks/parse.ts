import { defineTask } from "tempest";

export interface Event {
  user: string;
  action: string;
  amount: number;
}

/**
 * A stream entry's fields arrive as an object of strings (`XADD key * user ada action buy
 * amount 3` gives { user: "ada", action: "buy", amount: "3" }). Throwing rejects the entry:
 * it is retried, then written to the dead-letter stream `<key>:dead` with the error.
 */
export default defineTask<Record<string, string>, Event>({
  handle(fields) {
    if (!fields.user) throw new Error("the entry has no `user` field");
    return { user: fields.user, action: fields.action ?? "unknown", amount: Number(fields.amount ?? 0) || 0 };
  },
});
