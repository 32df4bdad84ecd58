import { defineTask } from "tempest";

const counts = new Map<string, number>();

/** Counts words in memory (per process) and logs the top ten when the task stops. */
export default defineTask<{ word: string }, void>({
  handle({ word }) {
    counts.set(word, (counts.get(word) ?? 0) + 1);
  },
  close(ctx) {
    const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 10);
    ctx.log.info(`top words: ${top.map(([w, n]) => `${w} ${n}`).join(", ")}`);
  },
});
