import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatDuration,
  formatProgress,
  looksLikeRef,
  nameFromFile,
  parseRef,
  parseSums,
  progressBar,
} from "../../../src/registry/index.js";

test("references: a bare name means latest; paths are not references", () => {
  assert.deepEqual(parseRef("llama"), { name: "llama", tag: "latest" });
  assert.deepEqual(parseRef("llama:3.1-q8"), { name: "llama", tag: "3.1-q8" });
  assert.throws(() => parseRef("a:b:c"), /invalid version "b:c"/);
  assert.throws(() => parseRef("../x"), /invalid name/);
  assert.equal(looksLikeRef("stories"), true);
  assert.equal(looksLikeRef("stories:2"), true);
  assert.equal(looksLikeRef("./stories.gguf"), false);
  assert.equal(looksLikeRef("stories.gguf"), false);
  assert.equal(nameFromFile("Llama 3 (8B).Q4_K_M.gguf"), "Llama-3-8B-.Q4_K_M");
});

test("progress line: bytes, rate and time left from the counters and the clock", () => {
  const mib = 1024 * 1024;
  assert.equal(
    formatProgress("pull", 25 * mib, 100 * mib, 5_000, 8),
    "pull [##......] 25.0 MiB / 100.0 MiB  5.0 MiB/s  ETA 0:15",
  );
  assert.equal(formatProgress("x", 10, 10, 0, 4), "x [####] 10 B / 10 B  0 B/s  ETA 0:00");
  assert.equal(formatDuration(3725), "1:02:05");
  assert.equal(formatDuration(Infinity), "--:--");
  let now = 1_000;
  const out: string[] = [];
  const bar = progressBar("v", { write: (s: string) => out.push(s), isTTY: true }, () => now);
  bar.update(0, 100);
  now += 50;
  bar.update(10, 100); // within 100 ms of the last draw: skipped
  now += 100;
  bar.update(60, 100);
  bar.update(100, 100); // the end is always drawn
  bar.end();
  assert.equal(out.length, 4);
  assert.match(out[1]!, /^\rv \[#+\.+\] 60 B \/ 100 B {2}400 B\/s {2}ETA 0:00$/);
  assert.equal(out[3], "\n");
});

test("SHA256SUMS lines in both sha256sum formats", () => {
  const a = "a".repeat(64);
  const b = "b".repeat(64);
  const sums = parseSums(`${a}  m/1/model.gguf\n${b} *m/1/manifest.json\nnoise\n`);
  assert.deepEqual(
    [...sums],
    [
      ["m/1/model.gguf", a],
      ["m/1/manifest.json", b],
    ],
  );
});
