import { closeSync, openSync, readSync, fstatSync } from "node:fs";

const BLOCK = 64 * 1024;

/**
 * The last `n` lines of a log, reading backwards from the end; when the current file holds
 * fewer, the newest rotated file (`.1`) supplies the rest. Raw bytes, not decoded.
 */
export function lastLines(path: string, n: number): Buffer {
  if (n <= 0) return Buffer.alloc(0);
  const current = tailOf(path, n);
  const have = countLines(current);
  if (have >= n) return current;
  const older = tailOf(`${path}.1`, n - have);
  return Buffer.concat([older, current]);
}

function tailOf(path: string, n: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = fstatSync(fd).size;
    const blocks: Buffer[] = [];
    let pos = size;
    let newlines = 0;
    // n lines need n+1 newlines before them (or the start of the file); the last may lack one.
    while (pos > 0 && newlines <= n) {
      const len = Math.min(BLOCK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      blocks.unshift(buf);
      for (const b of buf) if (b === 10) newlines++;
    }
    const all = Buffer.concat(blocks);
    return all.subarray(startOfLastLines(all, n));
  } finally {
    closeSync(fd);
  }
}

function startOfLastLines(buf: Buffer, n: number): number {
  let i = buf.length;
  if (buf[i - 1] === 10) i--; // the final newline ends the last line
  for (let seen = 0; i > 0; i--) {
    if (buf[i - 1] === 10 && ++seen === n) return i;
  }
  return 0;
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (const b of buf) if (b === 10) n++;
  return buf.length > 0 && buf[buf.length - 1] !== 10 ? n + 1 : n;
}
