import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GgmlType, GgufFile, plainValue, validateModel } from "../../../src/models/index.js";
import { STORIES_GREEDY_64, STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { bulwark } from "../../helpers/cli.js";
import { complete } from "../../helpers/llama.js";
import { tempDir } from "../../helpers/model-files.js";

test("quantized stories260K loads and generates: Q8_0 keeps the greedy text", async (t) => {
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const dir = tempDir();
  for (const type of ["q8_0", "q4_0"]) {
    const out = join(dir, `stories-${type}.gguf`);
    const r = bulwark(["models", "quantize", stories, out, "--type", type]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`32 tensors as ${type.toUpperCase()}, 16 kept`));
    const f = await GgufFile.open(out);
    const q = f.tensor("blk.0.attn_q.weight")!;
    assert.equal(q.type, type === "q8_0" ? GgmlType.Q8_0 : GgmlType.Q4_0);
    // rows of 172 weights do not fill 32-weight blocks and stay F32
    assert.equal(f.tensor("blk.0.ffn_down.weight")!.type, GgmlType.F32);
    assert.equal(f.meta.number("general.file_type"), type === "q8_0" ? 7 : 2);
    const text = await complete(out, "Once upon a time", 64);
    if (type === "q8_0") assert.equal(text, STORIES_GREEDY_64);
    else assert.ok((text.match(/[a-z]+/g) ?? []).length >= 20, text);
    const report = await validateModel(out, { quick: true });
    assert.equal(report.ok, true, JSON.stringify(report.failed));
  }
  const requant = bulwark([
    "models",
    "quantize",
    join(dir, "stories-q8_0.gguf"),
    join(dir, "x.gguf"),
    "--type",
    "q4_0",
  ]);
  assert.equal(requant.status, 1);
  assert.match(requant.stderr, /model_unsupported: .*already quantized/);
  const badType = bulwark(["models", "quantize", stories, join(dir, "y.gguf"), "--type", "q3_k"]);
  assert.equal(badType.status, 1);
  assert.match(badType.stderr, /--type must be one of/);
});

test("models generate random writes any llama shape that loads and generates", async () => {
  const dir = tempDir();
  const out = join(dir, "random.gguf");
  // One shape, written twice with the same seed.
  const generate = (to: string) =>
    bulwark([
      ...["models", "generate", "random", "--out", to, "--width", "64", "--layers", "2"],
      ...["--heads", "4", "--kv-heads", "2", "--ff", "128", "--vocab", "1000"],
      ...["--type", "q8_0", "--seed", "5"],
    ]);
  const r = generate(out);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(bulwark(["models", "inspect", out, "--json"]).stdout);
  assert.equal(d.layers, 2);
  assert.equal(d.embeddingLength, 64);
  assert.equal(d.kvHeads, 2);
  assert.equal(d.tokenizer.vocabSize, 1000);
  assert.equal(d.quantization, "Q8_0");
  const text = await complete(out, "ka", 8);
  assert.ok(text.length > 0);

  const again = join(dir, "again.gguf");
  generate(again);
  assert.ok(readFileSync(out).equals(readFileSync(again)), "the same seed gives the same file");

  const bad = bulwark([
    "models",
    "generate",
    "random",
    "--out",
    join(dir, "bad.gguf"),
    "--width",
    "100",
    "--heads",
    "3",
  ]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--width must be a multiple of --heads/);
});

test("models generate random --vocab-from copies a GGUF's tokenizer", async (t) => {
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const out = join(tempDir(), "random-stories-vocab.gguf");
  const r = bulwark([
    "models",
    "generate",
    "random",
    "--out",
    out,
    "--width",
    "64",
    "--layers",
    "1",
    "--heads",
    "2",
    "--ff",
    "64",
    "--type",
    "f16",
    "--vocab-from",
    stories,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const [a, b] = await Promise.all([GgufFile.open(out), GgufFile.open(stories)]);
  for (const key of [
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
  ]) {
    assert.deepEqual(
      plainValue(a.header.metadata.get(key)),
      plainValue(b.header.metadata.get(key)),
    );
  }
  assert.deepEqual(a.tensor("token_embd.weight")!.dims, [64, 512]);
  assert.equal(a.tensor("blk.0.attn_q.weight")!.type, GgmlType.F16);
  assert.ok((await complete(out, "Once upon a time", 4)).length > 0);
});
