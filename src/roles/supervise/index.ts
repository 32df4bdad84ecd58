export { startSupervisor, type Supervisor, type SupervisorOptions } from "./supervisor.ts";
export { runSuperviseRole, type SuperviseRoleOptions } from "./main.ts";
export { controlRequest, type ControlOk } from "./control-client.ts";
export type { InstanceStatus } from "./instance.ts";
export type { ControlRequest, ControlResponse, ReloadSummary } from "./protocol.ts";
