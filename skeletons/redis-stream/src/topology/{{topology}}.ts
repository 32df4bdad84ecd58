import { defineTopology } from "tempest";
import parse from "../tasks/parse.ts";
import tally from "../tasks/tally.ts";

/** Stream entries in, a tally per user out. The stream, group and server are in Runtime.toml. */
export default defineTopology({
  name: "{{topology}}",
  description: "parse stream entries, tally them per user",
  tasks: { parse, tally },
  graph: "parse --> tally;",
});
