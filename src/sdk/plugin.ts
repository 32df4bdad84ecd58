import * as sdk from "./index.ts";

let registered = false;

/**
 * Serves the SDK as the virtual module `tempest` to every user module this process imports
 * afterwards, so user projects need no node_modules of ours. Idempotent.
 */
export function registerSdkModule(): void {
  if (registered) return;
  registered = true;
  Bun.plugin({
    name: "tempest-sdk",
    setup(build) {
      build.module("tempest", () => ({ exports: { ...sdk }, loader: "object" }));
    },
  });
}
