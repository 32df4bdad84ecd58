import { afterAll, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { cleanupTempDirs, tempProject } from "../../../test/helpers/tempest.ts";
import { LineWriter, RotatingLog } from "./log-file.ts";
import { lastLines } from "./log-tail.ts";

afterAll(cleanupTempDirs);

const bytes = (s: string) => new TextEncoder().encode(s);
const read = (dir: string, f: string) => readFileSync(join(dir, f), "utf8");

test("rotates at a line boundary and keeps `keep` old files", () => {
  const dir = tempProject({});
  const log = new RotatingLog(join(dir, "x.log"), { maxBytes: 10, keep: 2 });
  for (const l of ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n", "gggg\n"]) log.write(bytes(l));
  log.close();
  expect(readdirSync(dir).sort()).toEqual(["x.log", "x.log.1", "x.log.2"]);
  expect([read(dir, "x.log.2"), read(dir, "x.log.1"), read(dir, "x.log")]).toEqual(["cccc\ndddd\n", "eeee\nffff\n", "gggg\n"]);
});

test("a chunk of many lines is split between files at newlines; a line longer than a file is cut", () => {
  const dir = tempProject({});
  const log = new RotatingLog(join(dir, "x.log"), { maxBytes: 8, keep: 5 });
  log.write(bytes("ab\ncd\nef\ngh\n"));
  log.write(bytes("0123456789abc\n"));
  log.close();
  const files = ["x.log.4", "x.log.3", "x.log.2", "x.log.1", "x.log"].filter((f) => existsSync(join(dir, f)));
  const contents = files.map((f) => read(dir, f));
  expect(contents.join("")).toBe("ab\ncd\nef\ngh\n0123456789abc\n");
  expect(contents.slice(0, 2)).toEqual(["ab\ncd\n", "ef\ngh\n"]);
  for (const c of contents) expect(c.length).toBeLessThanOrEqual(8);
});

test("keep = 0: the file starts over", () => {
  const dir = tempProject({});
  const log = new RotatingLog(join(dir, "x.log"), { maxBytes: 6, keep: 0 });
  log.write(bytes("1234\n"));
  log.write(bytes("5678\n"));
  log.close();
  expect(readdirSync(dir)).toEqual(["x.log"]);
  expect(read(dir, "x.log")).toBe("5678\n");
});

test("LineWriter: two streams interleave by whole lines; invalid UTF-8 passes; the tail is flushed", () => {
  const dir = tempProject({});
  const log = new RotatingLog(join(dir, "x.log"), { maxBytes: 1 << 20, keep: 1 });
  const out = new LineWriter(log);
  const err = new LineWriter(log);
  out.push(bytes("out-1\nout-"));
  err.push(bytes("err-1 "));
  out.push(bytes("2\n"));
  err.push(new Uint8Array([0xff, 0xfe, 0x0a]));
  out.push(bytes("no newline"));
  out.flush();
  log.close();
  expect([...readFileSync(join(dir, "x.log"))]).toEqual([...bytes("out-1\nout-2\nerr-1 "), 0xff, 0xfe, 0x0a, ...bytes("no newline")]);
});

test("LineWriter: a partial line longer than the limit is written rather than held", () => {
  const dir = tempProject({});
  const log = new RotatingLog(join(dir, "x.log"), { maxBytes: 1 << 20, keep: 1 });
  const w = new LineWriter(log, 4);
  w.push(bytes("abcdefgh"));
  expect(read(dir, "x.log")).toBe("abcdefgh");
});

test("taps see what is written; reopen after an external move writes a fresh file", async () => {
  const dir = tempProject({});
  const path = join(dir, "x.log");
  const log = new RotatingLog(path, { maxBytes: 1 << 20, keep: 1 });
  const seen: string[] = [];
  let closed = false;
  log.tap((b) => seen.push(new TextDecoder().decode(b)), () => (closed = true));
  log.write(bytes("one\n"));
  const { renameSync } = await import("node:fs");
  renameSync(path, `${path}.moved`);
  log.reopen();
  log.write(bytes("two\n"));
  log.close();
  expect(seen).toEqual(["one\n", "two\n"]);
  expect(closed).toBe(true);
  expect(read(dir, "x.log")).toBe("two\n");
  expect(read(dir, "x.log.moved")).toBe("one\n");
});

test("lastLines: from the end, reaching into the rotated file when needed", () => {
  const dir = tempProject({ "x.log.1": "a\nb\nc\n", "x.log": "d\ne\n" });
  expect(lastLines(join(dir, "x.log"), 1).toString()).toBe("e\n");
  expect(lastLines(join(dir, "x.log"), 2).toString()).toBe("d\ne\n");
  expect(lastLines(join(dir, "x.log"), 4).toString()).toBe("b\nc\nd\ne\n");
  expect(lastLines(join(dir, "x.log"), 0).toString()).toBe("");
  expect(lastLines(join(dir, "missing.log"), 3).toString()).toBe("");
});

test("LineWriter with timestamps: every line starts with the ISO time once, also across chunks and after a cut", () => {
  const dir = tempProject({});
  const log = new RotatingLog(join(dir, "x.log"), { maxBytes: 1 << 20, keep: 1 });
  const w = new LineWriter(log, 8, true, () => new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)));
  w.push(Buffer.from("one\ntw"));
  w.push(Buffer.from("o\nthree\nabcdefghijkl"));
  w.push(Buffer.from("mn\nlast"));
  w.flush();
  const t = "2025-01-02T03:04:05.678Z ";
  expect(readFileSync(join(dir, "x.log"), "utf8")).toBe(`${t}one\n${t}two\n${t}three\n${t}abcdefghijklmn\n${t}last`);
});
