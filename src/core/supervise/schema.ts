import type { Schema } from "../config/schema.ts";
import { RESTART_MODES } from "./config.ts";

const str: Schema = { type: "string" };
const ms: Schema = { type: "integer", min: 0 };

/** One `[[process]]` table of a supervise file (snake_case, as written by users). */
export const processSchema: Schema = {
  type: "table",
  fields: {
    name: str,
    command: str,
    args: { type: "array", items: str, what: "strings" },
    cwd: str,
    env: { type: "table", eachName: "variable", each: str },
    instances: { type: "integer", min: 1, max: 1000 },
    restart: { type: "enum", values: RESTART_MODES },
    success_codes: { type: "array", items: { type: "integer", min: 0, max: 255 }, what: "exit codes (0–255)" },
    backoff: { type: "table", fields: { initial_ms: ms, max_ms: ms, factor: { type: "number", min: 1 }, reset_after_ms: ms } },
    limit: { type: "table", fields: { restarts: { type: "integer", min: 0 }, window_ms: { type: "integer", min: 1 } } },
    stop_signal: str,
    stop_timeout_ms: ms,
    log: { type: "table", fields: { max_bytes: { type: "integer", min: 1024 }, keep: { type: "integer", min: 0, max: 1000 }, timestamps: { type: "boolean" } } },
  },
};

/** The whole supervise file. */
export const superviseFileSchema: Schema = {
  type: "table",
  fields: {
    supervise: { type: "table", fields: { socket: str, log_dir: str, timestamps: { type: "boolean" } } },
    process: { type: "array", items: processSchema, what: "[[process]] tables" },
  },
};
