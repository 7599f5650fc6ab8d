import { test } from "node:test";
import assert from "node:assert/strict";
import { looksLikeRef, nameFromFile, parseRef, parseSums } from "../../../src/registry/index.js";

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
