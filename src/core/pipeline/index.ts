export { createPipeline, step, capacity, inflightRoots, isIdle, stats, tasksWithoutSession, type PipelineState } from "./pipeline.ts";
export type { TaskSpec, PipelineConfig, Event, Effect, AttemptRecord, PipelineStats, TaskStats } from "./types.ts";
