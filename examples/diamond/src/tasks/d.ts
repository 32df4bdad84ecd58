import { defineTask } from "tempest";

/** Joins both branches: called once per order with every output of B and of C. */
export default defineTask<{ B: { tax: number }[]; C: { risk: string }[] }, void>({
  join: "all",
  handle(parts, ctx) {
    const tax = parts.B[0]?.tax ?? 0;
    const risk = parts.C[0]?.risk ?? "unknown";
    if (risk === "high") ctx.log.info(`order ${ctx.msgId}: tax ${tax}, risk ${risk}`);
  },
});
