import { chmodSync, closeSync, existsSync, linkSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TempestError } from "../../core/errors.ts";

/**
 * The agent's artifact store (DESIGN.md §8): `$HOME/bin/.sha256/<sha256>`, fetched from the
 * director and verified while it streams to disk; kept once fetched. What runs is a hard link
 * `$HOME/bin/<executable>` to it, because a built executable picks its role from its file name.
 */
export interface ArtifactStore {
  /** Resolves with the stored file's path, or rejects with one line that says why. */
  ensure(sha256: string): Promise<string>;
  /** `$HOME/bin/<executable>` → the stored file; replaced atomically when it points elsewhere. */
  link(executable: string, sha256: string): string;
}

const SHA256 = /^[0-9a-f]{64}$/;
const FETCH_TIMEOUT_MS = 10 * 60_000;

export function createArtifactStore(opts: { home: string; director: string; token?: string }): ArtifactStore {
  const bin = join(opts.home, "bin");
  const store = join(bin, ".sha256");
  mkdirSync(store, { recursive: true });
  const inflight = new Map<string, Promise<string>>();

  const fetchOne = async (sha256: string): Promise<string> => {
    const final = join(store, sha256);
    const url = `${opts.director}/api/v1/artifacts/${sha256}`;
    const tmp = join(store, `.tmp-${sha256.slice(0, 12)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    let res: Response;
    try {
      res = await fetch(url, { headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch (e) {
      throw new TempestError("E_RUNTIME", `cannot fetch artifact ${sha256} from the director at ${opts.director}: ${(e as Error).message}`, { exitCode: 1 });
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => {});
      const why = res.status === 401 || res.status === 403 ? " — set TEMPEST_TOKEN to the director's token" : "";
      throw new TempestError("E_RUNTIME", `the director at ${opts.director} answered ${res.status} for artifact ${sha256}${why}`, { exitCode: 1 });
    }
    const hasher = new Bun.CryptoHasher("sha256");
    const fd = openSync(tmp, "w", 0o600);
    try {
      for await (const chunk of res.body) {
        hasher.update(chunk);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
      }
    } catch (e) {
      closeSync(fd);
      unlinkSync(tmp);
      throw new TempestError("E_RUNTIME", `fetching artifact ${sha256} from the director at ${opts.director} broke off: ${(e as Error).message}`, { exitCode: 1 });
    }
    closeSync(fd);
    const got = hasher.digest("hex");
    if (got !== sha256) {
      unlinkSync(tmp);
      throw new TempestError("E_RUNTIME", `refused artifact from the director at ${opts.director}: expected sha256 ${sha256}, got ${got}; not running it`, { exitCode: 1 });
    }
    chmodSync(tmp, 0o755);
    renameSync(tmp, final);
    return final;
  };

  return {
    ensure(sha256) {
      if (!SHA256.test(sha256)) return Promise.reject(new TempestError("E_RUNTIME", `artifact id ${JSON.stringify(sha256)} is not a sha256`, { exitCode: 1 }));
      const final = join(store, sha256);
      if (existsSync(final)) return Promise.resolve(final);
      let p = inflight.get(sha256);
      if (!p) {
        p = fetchOne(sha256).finally(() => inflight.delete(sha256));
        inflight.set(sha256, p);
      }
      return p;
    },
    link(executable, sha256) {
      const target = join(store, sha256);
      const path = join(bin, executable);
      if (sameFile(path, target)) return path;
      const tmp = join(bin, `.link-${executable}-${process.pid}`);
      try {
        unlinkSync(tmp);
      } catch {
        // none left over
      }
      linkSync(target, tmp);
      renameSync(tmp, path);
      return path;
    },
  };
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false;
  }
}
