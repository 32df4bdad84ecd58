import { defineCommand } from "citty";
import { TempestError } from "../core/errors.ts";
import { HOME_DIRS, initTempestHome, resolveTempestHome } from "../core/tempest-home.ts";
import { defineTempestCommand } from "./_command.ts";

const homeFlag = { type: "string", description: "the home folder (default: $TEMPEST_HOME, else ~/.tempest)", valueHint: "DIR" } as const;

const init = defineTempestCommand({
  meta: { name: "home init", description: `Create $TEMPEST_HOME and its folders: ${HOME_DIRS.join("/ ")}/` },
  args: { home: homeFlag, json: { type: "boolean", description: "print the result as JSON" } },
  run({ args }) {
    const home = resolveTempestHome(args.home, process.env);
    let made: ReturnType<typeof initTempestHome>;
    try {
      made = initTempestHome(home);
    } catch (e) {
      throw new TempestError("E_RUNTIME", `cannot create ${home}: ${(e as Error).message}`, { exitCode: 1, hint: "set TEMPEST_HOME (or --home) to a folder you can write to" });
    }
    if (args.json) {
      console.log(JSON.stringify({ home, ...made }));
      return;
    }
    console.log(`TEMPEST_HOME=${home}`);
    for (const d of HOME_DIRS) console.log(`  ${`${d}/`.padEnd(8)} ${made.created.includes(d) ? "created" : "exists"}`);
  },
});

export default defineCommand({
  meta: { name: "home", description: "The tempest home folder ($TEMPEST_HOME): built executables, config, logs, sockets" },
  subCommands: { init: async () => init },
});
