import { defineTopology } from "tempest";
import { split } from "../tasks/split.ts";
import { count } from "../tasks/count.ts";

export default defineTopology({
  name: "wordcount",
  description: "lines of text → words → counts",
  tasks: { split, count },
  graph: "split --> count;",
});
