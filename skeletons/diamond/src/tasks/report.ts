import { defineTask } from "tempest";

export interface Parts {
  tax: { id: number; tax: number }[];
  risk: { id: number; risk: "low" | "high" }[];
}

let orders = 0;
let highRisk = 0;
let totalTax = 0;

/** The join (join = "all" in the member file): once per order, with both branches' outputs. */
export default defineTask<Parts, { id: number; tax: number; risk: string }>({
  handle(parts) {
    const tax = parts.tax[0];
    const risk = parts.risk[0];
    orders++;
    totalTax += tax?.tax ?? 0;
    if (risk?.risk === "high") highRisk++;
    return tax && risk ? { id: tax.id, tax: tax.tax, risk: risk.risk } : undefined;
  },
  close(ctx) {
    ctx.log.info(`${orders} orders joined: ${highRisk} high risk, total tax ${totalTax.toFixed(2)}`);
  },
});
