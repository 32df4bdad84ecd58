import { defineTask } from "tempest";

/** Once per order, with both branches' outputs; the entry is acked after this returns. */
export default defineTask<{ price: { total: number }[]; score: { risk: string }[] }, void>({
  join: "all",
  handle(parts, ctx) {
    const total = parts.price[0]?.total;
    const risk = parts.score[0]?.risk;
    if (risk === "high") ctx.log.info(`entry ${ctx.msgId}: high-risk order, total ${total}`);
  },
});
