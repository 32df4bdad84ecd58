import pkg from "../package.json" with { type: "json" };

/** The version of this tempest build. */
export const VERSION: string = pkg.version;
