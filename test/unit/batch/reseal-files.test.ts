import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Keyring } from "../../../src/crypto/index.js";
import { resealBatchFiles, sealedLines } from "../../../src/batch/index.js";

function ring(current: Buffer, previous: Buffer[] = []): Keyring {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-ring-"));
  const file = (k: Buffer, n: string) => {
    const p = join(dir, n);
    writeFileSync(p, k.toString("hex"), { mode: 0o600 });
    return p;
  };
  const r = Keyring.fromEnv({
    BULWARK_DATA_KEY_FILE: file(current, "current"),
    BULWARK_DATA_KEY_PREVIOUS_FILES: previous.map((k, i) => file(k, `prev${i}`)).join(","),
  })!;
  rmSync(dir, { recursive: true, force: true });
  return r;
}

const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const oldRing = ring(oldKey);
const both = ring(newKey, [oldKey]);

function write(dir: string, id: string, lines: string[], by: Keyring, trailingNewline = true) {
  const codec = sealedLines(by);
  const stored = lines.map((l) => codec.encode(id, Buffer.from(l)).toString("latin1"));
  writeFileSync(join(dir, `${id}.jsonl`), stored.join("\n") + (trailingNewline ? "\n" : ""));
}

function read(dir: string, id: string, by: Keyring): string[] {
  const codec = sealedLines(by);
  return readFileSync(join(dir, `${id}.jsonl`), "latin1")
    .split("\n")
    .filter(Boolean)
    .map((l) => codec.decode(id, Buffer.from(l, "latin1")).toString());
}

test("old-key lines are resealed in place; busy files, clear lines and files with unreadable lines are left", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-reseal-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  write(dir, "file-a", ['{"n":1}', '{"n":2}'], oldRing);
  write(dir, "file-b", ['{"n":3}'], oldRing, false);
  write(dir, "file-busy", ['{"n":4}'], oldRing);
  // A line in clear (written before any key) beside a sealed one.
  writeFileSync(join(dir, "file-mixed.jsonl"), '{"clear":true}\n');
  write(dir, "file-stranger", ['{"n":5}'], ring(randomBytes(32)));
  const sizes = Object.fromEntries(
    readdirSync(dir).map((n) => [n, readFileSync(join(dir, n)).length]),
  );
  const seen: number[] = [];
  const counts = await resealBatchFiles(dir, both, new Set(["file-busy"]), (c) =>
    seen.push(c.files),
  );
  assert.deepEqual(counts, {
    files: 5,
    resealedFiles: 2,
    resealedLines: 3,
    busy: 1,
    unreadable: 1,
  });
  assert.deepEqual(seen, [1, 2, 3, 4, 5], "progress after every file");
  const newOnly = ring(newKey);
  assert.deepEqual(read(dir, "file-a", newOnly), ['{"n":1}', '{"n":2}']);
  assert.deepEqual(read(dir, "file-b", newOnly), ['{"n":3}']);
  assert.equal(readFileSync(join(dir, "file-b.jsonl"), "latin1").endsWith("\n"), false);
  assert.deepEqual(read(dir, "file-busy", oldRing), ['{"n":4}'], "a busy file is not touched");
  assert.equal(readFileSync(join(dir, "file-mixed.jsonl"), "utf8"), '{"clear":true}\n');
  for (const [name, size] of Object.entries(sizes)) {
    assert.equal(readFileSync(join(dir, name)).length, size, `${name} keeps its size`);
  }
  assert.deepEqual(readdirSync(dir).sort(), Object.keys(sizes).sort(), "no temporary file left");

  const again = await resealBatchFiles(dir, both, new Set());
  assert.equal(again.resealedLines, 1, "only the busy file's line is left for a later run");
  assert.equal(again.unreadable, 1);
});

test("a missing folder is nothing to reseal", async () => {
  const counts = await resealBatchFiles(
    join(tmpdir(), "bulwark-none-" + Date.now()),
    both,
    new Set(),
  );
  assert.equal(counts.files, 0);
});
