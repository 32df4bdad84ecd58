import type { Schema } from "./schema.ts";

const str: Schema = { type: "string" };

/** Project.toml: the workspace root that lists member files. */
export const projectFileSchema: Schema = {
  type: "table",
  fields: { project: { type: "table", fields: { members: { type: "array", items: str, what: "paths" } } } },
};

export const taskDeclSchema: Schema = {
  type: "table",
  fields: {
    name: str,
    type: str,
    join: { type: "enum", values: ["union", "all"] },
    concurrency: { type: "integer", min: 1 },
  },
};

/** A member file: `[project]` plus `[[topology]]` entries (a module, or a DAG in TOML). */
export const memberFileSchema: Schema = {
  type: "table",
  fields: {
    project: { type: "table", fields: { name: str, description: str, version: str } },
    topology: {
      type: "array",
      what: "tables",
      items: {
        type: "table",
        fields: { mod: str, name: str, description: str, graph: str, task: { type: "array", what: "tables", items: taskDeclSchema } },
      },
    },
  },
};
