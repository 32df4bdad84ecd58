import { formatProblem, isTempestError } from "../core/errors.ts";

/**
 * The one error reporter of tempest and of every executable `tempest build` makes: a
 * TempestError prints its problems (file:line:col each) or its message and hint, and exits
 * with its own code (2 usage/config, 1 runtime); citty's usage errors exit 2; anything else is
 * a bug and prints its whole stack (STYLE.md "Errors").
 *
 * `helpHint` is what the user should run for help: `tempest --help`, or `./<exe> --help`.
 */
export function reportError(e: unknown, helpHint = "tempest --help"): number {
  if (isTempestError(e)) {
    if (e.problems.length) {
      for (const p of e.problems) console.error(formatProblem(p));
      const errors = e.problems.filter((p) => p.severity === "error").length;
      console.error(`${errors} error${errors === 1 ? "" : "s"} found`);
    } else {
      console.error(`error: ${e.message}${e.hint ? ` — ${e.hint}` : ""}`);
    }
    return e.exitCode;
  }
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === "CLIError") {
    console.error(`error: ${err.message ?? "bad arguments"} — run ${helpHint}`);
    return 2;
  }
  console.error(e);
  return 1;
}
