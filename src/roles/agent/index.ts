export { runAgentRole } from "./main.ts";
export { resolveAgentOptions, type AgentOptions, type AgentFlags } from "./options.ts";
export { systemdUnit } from "./systemd.ts";
