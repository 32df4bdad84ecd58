import { TempestError } from "../core/errors.ts";
import type { LogLine } from "../roles/director/logs.ts";
import { defineTempestCommand } from "./_command.ts";
import { directorArgs, directorClient } from "./_director.ts";

export default defineTempestCommand({
  meta: { name: "logs", description: "The log lines of a topology's processes from every agent, each prefixed with agent, task and instance" },
  args: {
    topology: { type: "positional", required: true, description: "the topology" },
    process: { type: "positional", required: false, description: "only this task, or one instance: B or B#1 (`topology` for the topology process)", valueHint: "TASK[#I]" },
    n: { type: "string", alias: "lines", description: "how many of the last lines (default 50)", valueHint: "N" },
    follow: { type: "boolean", alias: "f", description: "keep printing new lines (Ctrl-C to stop)" },
    json: { type: "boolean", description: "one JSON object per line" },
    ...directorArgs,
  },
  async run({ args }) {
    const n = args.n === undefined ? 50 : Number(args.n);
    if (!Number.isInteger(n) || n < 0) throw new TempestError("E_USAGE", `-n ${args.n} is not a number of lines`, { hint: "e.g. -n 20" });
    const q = new URLSearchParams({ n: String(n) });
    if (args.process) {
      const m = /^([^#]+)(?:#(\d+))?$/.exec(args.process);
      if (!m) throw new TempestError("E_USAGE", `${args.process} is not TASK or TASK#INSTANCE`, { hint: "e.g. B or B#1" });
      q.set("task", m[1]!);
      if (m[2] !== undefined) q.set("instance", m[2]);
    }
    if (args.follow) q.set("follow", "1");
    const client = directorClient(args.director);
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    process.once("SIGTERM", () => controller.abort());
    const res = await client.raw("GET", `/api/v1/topologies/${encodeURIComponent(args.topology)}/logs?${q}`, { signal: controller.signal });
    if (!res.ok) {
      const { apiError } = await import("../roles/client/director.ts");
      throw apiError(res.status, (await res.json().catch(() => ({}))) as never);
    }
    const print = (l: LogLine) => console.log(args.json ? JSON.stringify(l) : `${l.agent} ${l.kind === "topology" ? "topology" : `${l.task}#${l.instance}`} | ${l.line}`);
    let rest = "";
    try {
      for await (const chunk of res.body as ReadableStream<Uint8Array>) {
        rest += Buffer.from(chunk).toString("utf8");
        const parts = rest.split("\n");
        rest = parts.pop() ?? "";
        for (const p of parts) if (p.trim()) print(JSON.parse(p) as LogLine);
      }
    } catch (e) {
      if ((e as Error).name !== "AbortError") throw new TempestError("E_UNREACHABLE", `lost the connection to the director at ${client.url}`, { exitCode: 1, hint: "run the command again" });
    }
  },
});
