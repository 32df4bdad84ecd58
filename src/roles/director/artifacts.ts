import { existsSync, mkdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { TempestError } from "../../core/errors.ts";

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Content-addressed executables in `$TEMPEST_HOME/artifacts/<sha256>` (DESIGN.md §9). An
 * upload is hashed as it is written and kept only when its hash is the one it claims; an
 * artifact never changes once stored, so a second upload of it is a no-op.
 */
export class ArtifactStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  path(sha256: string): string | null {
    if (!SHA256_HEX.test(sha256)) return null;
    const p = join(this.dir, sha256);
    return existsSync(p) ? p : null;
  }

  size(sha256: string): number | null {
    const p = this.path(sha256);
    return p ? statSync(p).size : null;
  }

  /** Streams `body` to disk while hashing it; refuses it (and keeps nothing) unless it hashes to `sha256`. */
  async put(sha256: string, body: ReadableStream<Uint8Array>): Promise<{ size: number; stored: boolean }> {
    if (!SHA256_HEX.test(sha256)) throw new TempestError("E_USAGE", `${sha256} is not a sha256 (64 lowercase hex digits)`);
    const existing = this.size(sha256);
    if (existing !== null) {
      await body.cancel().catch(() => {});
      return { size: existing, stored: false };
    }
    const tmp = join(this.dir, `.${sha256}.${process.pid}.${Math.random().toString(36).slice(2)}.part`);
    const hasher = new Bun.CryptoHasher("sha256");
    const file = await open(tmp, "w", 0o644);
    let size = 0;
    try {
      for await (const chunk of body) {
        hasher.update(chunk);
        size += chunk.byteLength;
        await file.write(chunk);
      }
    } catch (e) {
      await file.close();
      unlinkSync(tmp);
      throw e;
    }
    await file.close();
    const actual = hasher.digest("hex");
    if (actual !== sha256) {
      unlinkSync(tmp);
      throw new TempestError("E_ARTIFACT_MISMATCH", `the upload for artifact ${sha256.slice(0, 12)}… hashes to ${actual.slice(0, 12)}… (${size} bytes); refused`, {
        hint: "the file changed or was cut during the upload: run `tempest deploy` again",
      });
    }
    renameSync(tmp, join(this.dir, sha256));
    return { size, stored: true };
  }
}
