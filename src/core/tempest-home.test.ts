import { afterAll, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { cleanupTempDirs, tempProject } from "../../test/helpers/tempest.ts";
import { initTempestHome, resolveTempestHome } from "./tempest-home.ts";

afterAll(cleanupTempDirs);

test("the home comes from the flag, then TEMPEST_HOME, then ~/.tempest", () => {
  expect(resolveTempestHome("/x", { TEMPEST_HOME: "/y" })).toBe("/x");
  expect(resolveTempestHome(undefined, { TEMPEST_HOME: "~/t" })).toBe(join(homedir(), "t"));
  expect(resolveTempestHome(undefined, {})).toBe(join(homedir(), ".tempest"));
});

test("init creates bin, config, logs and run once; config and run are private", () => {
  const home = join(tempProject({}), "home");
  expect(initTempestHome(home)).toEqual({ created: ["bin", "config", "logs", "run"], existing: [] });
  expect(initTempestHome(home)).toEqual({ created: [], existing: ["bin", "config", "logs", "run"] });
  expect(statSync(join(home, "run")).mode & 0o777).toBe(0o700);
});
