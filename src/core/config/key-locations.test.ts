import { expect, test } from "bun:test";
import { locateKeys } from "./key-locations.ts";

test("keys, tables, arrays of tables and multi-line strings are located", () => {
  const keys = locateKeys(`[project]
name = "x"

[[topology]]
mod = "a.ts"

[[topology]]
name = "y"
graph = """
  name = "not a key"
"""
  [[topology.task]]
  name = "A"
  [[topology.task]]
  name = "B"
[topology.z.message]
  timeout = 5
`);
  expect(keys.get("project.name")).toEqual({ line: 2, col: 1 });
  expect(keys.get("topology.0.mod")).toEqual({ line: 5, col: 1 });
  expect(keys.get("topology.1.name")).toEqual({ line: 8, col: 1 });
  expect(keys.get("topology.1.task.1.name")).toEqual({ line: 15, col: 3 });
  expect([...keys.keys()].filter((k) => k.endsWith(".name")).length).toBe(4);
});
