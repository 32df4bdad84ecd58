import { expect, test } from "bun:test";
import { compileGraph } from "./_graph.ts";
import { tasksFrom } from "./_testkit.ts";

test("graph: roots, ancestors, join order and the split of children", () => {
  const g = compileGraph("t", tasksFrom("A-->B, A-->C, B-->J1, C-->J1, J1-->J2, A-->J2, X", ["J1", "J2", "X"]));
  const name = (i: number) => g.tasks[i]!.name;
  expect(g.roots.map(name)).toEqual(["A", "X"]); // X: join="all" without parents is a plain root
  expect(g.joins.map((j) => name(j.task))).toEqual(["J1", "J2"]);
  expect(g.joins[1]!.ancestors.map(name).sort()).toEqual(["A", "B", "C", "J1"]);
  expect(g.joins[1]!.joinAncestors).toEqual([0]);
  expect(g.joins[1]!.parents).toEqual(["J1", "A"]);
  const a = g.tasks[g.byName.get("A")!]!;
  expect(a.unionChildren.map(name)).toEqual(["B", "C"]);
  expect(a.joinChildren).toEqual([1]);
  expect(a.joinParentPos).toEqual([1]);
});
