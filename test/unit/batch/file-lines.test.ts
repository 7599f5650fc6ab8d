import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileLines } from "../../../src/batch/file-lines.js";

test("file lines: across read chunks, each line's offset and length on disk; the last may lack its newline", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-lines-"));
  try {
    const path = join(dir, "f.jsonl");
    // Lines longer than a read chunk (64 KiB), short ones, an empty one, and no final newline.
    const texts = ["a".repeat(70_000), "", "short", "b".repeat(150_000), "last"];
    writeFileSync(path, texts.join("\n"));
    const bytes = readFileSync(path);
    const seen = [];
    for await (const l of fileLines(path)) seen.push(l);
    assert.deepEqual(
      seen.map((l) => l.line.toString()),
      texts,
    );
    assert.deepEqual(
      seen.map((l) => l.newline),
      [true, true, true, true, false],
    );
    for (const l of seen) {
      const stored = bytes.subarray(l.offset, l.offset + l.length).toString();
      assert.equal(stored, l.line.toString() + (l.newline ? "\n" : ""));
    }
    writeFileSync(path, "x\n");
    const one = [];
    for await (const l of fileLines(path)) one.push(l);
    assert.deepEqual(
      one.map((l) => [l.line.toString(), l.offset, l.length, l.newline]),
      [["x", 0, 2, true]],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
