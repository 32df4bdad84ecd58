import { defineTask } from "tempest";

/** One line of text in, one message per word out. */
export const split = defineTask<string, { word: string }>({
  handle(line) {
    return line
      .toLowerCase()
      .split(/[^a-z']+/)
      .filter((word) => word.length > 0)
      .map((word) => ({ word }));
  },
});
