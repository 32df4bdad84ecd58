import { defineTask } from "tempest";

/** One line of text in, one message per word out (returning an array sends each element). */
export default defineTask<{ text: string }, { word: string }>({
  handle(msg) {
    return msg.text
      .toLowerCase()
      .split(/[^a-z0-9']+/)
      .filter((word) => word.length > 0)
      .map((word) => ({ word }));
  },
});
