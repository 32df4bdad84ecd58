import { createReadStream, existsSync } from "node:fs";
import { Readable } from "node:stream";
import { TempestError } from "../../core/errors.ts";
import type { Topology } from "../../core/project/model.ts";
import type { Source } from "../../core/sources/types.ts";
import { DeadLetterFile } from "./dead-letter-file.ts";
import { GeneratorSource } from "./generator.ts";
import { LinesSource } from "./lines.ts";
import { RedisStreamSource } from "./redis-stream.ts";
import { createLogger, type Logger } from "../log.ts";

/** Picks the source implementation a topology's runtime config asks for. */
export async function createSource(topology: Topology, log: Logger = createLogger("source")): Promise<Source> {
  const cfg = topology.runtime.source;
  if (!cfg) {
    throw new TempestError("E_CONFIG_INVALID", `topology \`${topology.name}\` has no source`, {
      hint: `add [topology.${topology.name}.source] to Runtime.toml, e.g. type = "file" and path = "data/input.jsonl"`,
    });
  }
  const deadLetters = new DeadLetterFile(topology.runtime.dead_letter.path, topology.name);
  switch (cfg.type) {
    case "file":
      if (!existsSync(cfg.path)) {
        throw new TempestError("E_CONFIG_INVALID", `the file source of \`${topology.name}\` reads ${cfg.path}, which does not exist`, { hint: "fix [topology.<name>.source] path (relative to the project root)" });
      }
      return new LinesSource("file", () => Readable.toWeb(createReadStream(cfg.path)) as ReadableStream<Uint8Array>, cfg.format, deadLetters);
    case "stdin":
      return new LinesSource("stdin", () => Bun.stdin.stream(), cfg.format, deadLetters);
    case "generator":
      return new GeneratorSource(cfg, deadLetters);
    case "redis-stream":
      return new RedisStreamSource(cfg, topology.name, topology.runtime.message.timeout, log);
  }
}
