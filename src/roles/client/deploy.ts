import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Manifest } from "../../core/build/plan.ts";
import type { Project } from "../../core/project/model.ts";
import { buildProject } from "../build/build.ts";
import type { DirectorClient } from "./director.ts";
import { startProgress } from "./progress.ts";

export interface DeployResult {
  manifest: Manifest;
  built: boolean;
  uploaded: number;
  uploadedBytes: number;
  deployed: Array<{ topology: string; version: string; created: boolean; desired: string }>;
}

/** Folders that are not the project's sources: a change there does not make a build stale. */
const NOT_SOURCES = new Set(["target", "node_modules", ".git", "dead-letter", "dist"]);

/**
 * `tempest deploy` (DESIGN.md §9): build when target/build is missing or older than a source
 * file, upload each executable the director does not have yet (one upload per distinct
 * sha256: the executables of a build are one file), then register the manifest.
 */
export async function deployProject(opts: { project: Project; client: DirectorClient; tempestVersion: string; progress: (line: string) => void }): Promise<DeployResult> {
  const { project, client, progress } = opts;
  const out = join(project.root, "target", "build");
  let manifest = readManifest(out);
  const stale = !manifest || manifest.tempest_version !== opts.tempestVersion || newestSource(project.root) > statSync(join(out, "manifest.json")).mtimeMs;
  if (stale) {
    progress(manifest ? "target/build is older than the sources: building" : "no build yet: building");
    manifest = (await buildProject({ project, tempestVersion: opts.tempestVersion, progress })).manifest;
  }
  const m = manifest as Manifest;
  const executables = [...m.topologies.map((t) => t.executable), ...m.tasks.map((t) => t.executable)];
  const bySha = new Map<string, { file: string; size: number }>();
  for (const file of executables) {
    const f = m.files[file];
    if (f && !bySha.has(f.sha256)) bySha.set(f.sha256, { file, size: f.size });
  }
  let uploaded = 0;
  let uploadedBytes = 0;
  for (const [sha, { file, size }] of bySha) {
    const head = await client.raw("HEAD", `/api/v1/artifacts/${sha}`);
    if (head.ok) {
      progress(`${file}: already on the director`);
      continue;
    }
    await upload(client, sha, join(out, file), size, file);
    uploaded++;
    uploadedBytes += size;
  }
  const timeouts = Object.fromEntries(project.topologies.map((t) => [t.name, t.runtime.message.timeout]));
  const r = await client.json<{ deployed: DeployResult["deployed"] }>("POST", "/api/v1/deploy", { manifest: m, timeouts });
  return { manifest: m, built: stale, uploaded, uploadedBytes, deployed: r.deployed };
}

async function upload(client: DirectorClient, sha: string, path: string, size: number, label: string): Promise<void> {
  const bar = startProgress(`uploading ${label}`, size);
  let sent = 0;
  const counted = Bun.file(path).stream().pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      sent += chunk.byteLength;
      bar.update(sent);
      controller.enqueue(chunk);
    },
  }));
  try {
    await client.json("PUT", `/api/v1/artifacts/${sha}`, undefined, counted, { "content-type": "application/octet-stream", "content-length": String(size) });
  } finally {
    bar.done();
  }
}

function readManifest(out: string): Manifest | null {
  const file = join(out, "manifest.json");
  if (!existsSync(file)) return null;
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as Manifest;
    // Every listed executable must still be there.
    for (const name of [...m.topologies.map((t) => t.executable), ...m.tasks.map((t) => t.executable)]) if (!existsSync(join(out, name))) return null;
    return m;
  } catch {
    return null;
  }
}

/** The newest modification time of any file under the project, outside build and dependency folders. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (NOT_SOURCES.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
