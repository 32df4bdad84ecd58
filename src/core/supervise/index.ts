export * from "./config.ts";
export * from "./load.ts";
export * from "./policy.ts";
export { processSchema, superviseFileSchema } from "./schema.ts";
