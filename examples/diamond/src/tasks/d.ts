import { defineTask } from "tempest";

let orders = 0;
let highRisk = 0;
let totalTax = 0;

/** Joins both branches: called once per order with every output of B and of C. */
export default defineTask<{ B: { tax: number }[]; C: { risk: string }[] }, void>({
  join: "all",
  handle(parts) {
    orders++;
    totalTax += parts.B[0]?.tax ?? 0;
    if (parts.C[0]?.risk === "high") highRisk++;
  },
  close(ctx) {
    ctx.log.info(`${orders} orders joined: ${highRisk} high risk, total tax ${totalTax.toFixed(2)}`);
  },
});
