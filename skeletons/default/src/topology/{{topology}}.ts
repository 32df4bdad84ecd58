import { defineTopology } from "tempest";
import count from "../tasks/count.ts";
import split from "../tasks/split.ts";

/** Text in, word counts out. Its source and settings are in Runtime.toml. */
export default defineTopology({
  name: "{{topology}}",
  description: "split lines into words, count them",
  tasks: { split, count },
  graph: "split --> count;",
});
