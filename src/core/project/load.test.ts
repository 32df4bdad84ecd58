import { afterAll, expect, test } from "bun:test";
import { cleanupTempDirs, tempProject } from "../../../test/helpers/tempest.ts";
import { diamondFiles } from "../../../test/helpers/projects.ts";
import { registerSdkModule } from "../../sdk/plugin.ts";
import { loadProject } from "./load.ts";

afterAll(cleanupTempDirs);
registerSdkModule();

test("layering: defaults < Runtime.toml < environment < --set, typed by the schema", async () => {
  const dir = tempProject(diamondFiles({ runtime: `[topology.y.message]\ntimeout = 1000\nretry = 1\nmax_pending = 50\n\n[topology.y.task.B]\nworkers = 3\n` }));
  const { project, problems } = await loadProject({
    dir,
    env: { TEMPEST__TOPOLOGY__Y__MESSAGE__RETRY: "5", TEMPEST__TOPOLOGY__Y__MESSAGE__MAX_PENDING: "70", TEMPEST__TOPOLOGY__Y__TASK__C__WORKERS: "2" },
    sets: ["topology.y.message.max_pending=80"],
  });
  expect(problems).toEqual([]);
  const rt = project?.topologies[0]?.runtime;
  expect(rt?.message).toEqual({ timeout: 1000, retry: 5, max_pending: 80, lease: 500 });
  expect(rt?.task).toEqual({ A: { workers: 1, concurrency: undefined }, B: { workers: 3, concurrency: undefined }, C: { workers: 2, concurrency: undefined }, D: { workers: 1, concurrency: undefined } });
});

test("defaults apply without Runtime.toml; a file source path is made absolute", async () => {
  const dir = tempProject(diamondFiles());
  const { project } = await loadProject({ dir, sets: ["topology.y.source.type=file", "topology.y.source.path=in.jsonl"] });
  const rt = project?.topologies[0]?.runtime;
  expect(rt?.message).toEqual({ timeout: 30_000, retry: 3, max_pending: 10_000, lease: 5_000 });
  expect(rt?.source).toEqual({ type: "file", path: `${dir}/in.jsonl`, format: "jsonl" });
  expect(rt?.dead_letter.path).toBe(`${dir}/dead-letter/y.jsonl`);
});
