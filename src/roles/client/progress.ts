/**
 * A progress bar on stderr: redrawn in place on a terminal, a line every quarter otherwise
 * (CI logs), so a 100 MiB upload never looks hung.
 */
export function startProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): { update(done: number): void; done(): void } {
  const tty = Boolean(stream.isTTY);
  const started = performance.now();
  let lastDraw = 0;
  let lastQuarter = -1;
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  const line = (done: number) => {
    const pct = total ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    const width = 24;
    const filled = Math.round((pct / 100) * width);
    const secs = (performance.now() - started) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(pct).padStart(3)}% ${mib(done)}/${mib(total)} MiB${rate ? ` ${mib(rate)} MiB/s` : ""}`;
  };
  return {
    update(done) {
      if (tty) {
        const now = performance.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        stream.write(`\r${line(done)}`);
        return;
      }
      const quarter = total ? Math.floor((done / total) * 4) : 4;
      if (quarter > lastQuarter) {
        lastQuarter = quarter;
        stream.write(`${line(done)}\n`);
      }
    },
    done() {
      if (tty) stream.write("\n");
    },
  };
}
