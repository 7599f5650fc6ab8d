import { test } from "node:test";
import assert from "node:assert/strict";
import {
  buildDemoModel,
  demoWords,
  encodeSentencePieceModel,
  estimateMemory,
  parseSentencePieceModel,
  permuteRows,
  syntheticVocabulary,
  unpermuteRows,
  ModelFormatError,
} from "../../../src/models/index.js";
import { llama2cFileSize, parseLlama2cHeader } from "../../../src/models/formats/llama2c.js";

test("estimateMemory adds weights, the KV cache of every slot and the overhead", () => {
  const shape = {
    weightsBytes: 1000,
    layers: 2,
    kvHeads: 4,
    headDim: 8,
    vocabSize: 100,
    embeddingSize: 32,
  };
  const e = estimateMemory(shape, 64, 3, 16);
  assert.equal(e.kvCacheBytes, 2 * 4 * 8 * 2 * 2 * 64 * 3);
  assert.equal(e.totalBytes, 1000 + e.kvCacheBytes + e.overheadBytes);
  assert.equal(estimateMemory(shape, 128, 3, 16).kvCacheBytes, 2 * e.kvCacheBytes);
});

test("the demo model is the same every time and its output rows are log-probabilities", () => {
  const a = buildDemoModel();
  const b = buildDemoModel();
  assert.deepEqual(
    a.tensors.map((t) => [t.name, t.dims]),
    b.tensors.map((t) => [t.name, t.dims]),
  );
  const out = a.tensors.find((t) => t.name === "output.weight")!;
  const [width, vocab] = out.dims as [number, number];
  const logits = new Float32Array((out.data as Uint8Array).buffer);
  // For every state (column), the probabilities of the next tokens sum to 1.
  for (let s = 0; s < 5; s++) {
    let sum = 0;
    for (let t = 0; t < vocab; t++) sum += Math.exp(logits[t * width + s]!);
    assert.ok(Math.abs(sum - 1) < 1e-3, `state ${s}: ${sum}`);
  }
  assert.ok(a.pairs.has("\u2581Once→\u2581upon"));
  assert.ok(!a.pairs.has("\u2581upon→\u2581Once"));
  assert.equal(demoWords().filter((w) => w === "\n").length, 4);
});

test("Q/K un-permutation inverts transformers' permutation", () => {
  const rows = 16;
  const cols = 3;
  const w = new Float32Array(rows * cols).map((_, i) => i);
  for (const heads of [1, 2, 4]) {
    const hf = permuteRows(w, rows, cols, heads);
    assert.notDeepEqual([...hf], [...w]);
    assert.deepEqual([...unpermuteRows(hf, rows, cols, heads)], [...w]);
  }
  // Head size 4, one head: Meta rows (0,1,2,3) = pairs (0,1),(2,3) → HF rows 0,2,1,3.
  const hf = permuteRows(new Float32Array([0, 1, 2, 3]), 4, 1, 1);
  assert.deepEqual([...hf], [0, 2, 1, 3]);
});

test("SentencePiece pieces survive an encode and parse", () => {
  const table = {
    tokens: ["<unk>", "<s>", "\u2581héllo", "<0x0A>"],
    scores: [0, 0, -1.5, 0],
    types: [2, 3, 1, 6],
  };
  assert.deepEqual(parseSentencePieceModel(encodeSentencePieceModel(table)), table);
  assert.throws(() => parseSentencePieceModel(Buffer.from([0x0a, 0x40, 0x0a])), ModelFormatError);
});

test("a llama2.c header is accepted only when it predicts the file size", () => {
  const c = {
    dim: 64,
    hiddenDim: 172,
    nLayers: 5,
    nHeads: 8,
    nKvHeads: 4,
    vocabSize: 512,
    seqLen: 512,
    sharedClassifier: true,
  };
  const head = Buffer.alloc(28);
  [64, 172, 5, 8, 4, 512, 512].forEach((v, i) => head.writeInt32LE(v, i * 4));
  const size = llama2cFileSize(c);
  assert.deepEqual(parseLlama2cHeader(head, size), c);
  assert.throws(() => parseLlama2cHeader(head, size - 4), /model_truncated|needs/);
  assert.throws(
    () => parseLlama2cHeader(head, size + 4),
    (e: ModelFormatError) => e.code === "model_unknown_format",
  );
  head.writeInt32LE(7, 12); // 64 is not a multiple of 7 heads
  assert.throws(
    () => parseLlama2cHeader(head, size),
    (e: ModelFormatError) => e.code === "model_unknown_format",
  );
});

test("the synthetic vocabulary has the asked size, unique tokens, bytes and specials", () => {
  const v = syntheticVocabulary(2000);
  assert.equal(v.tokens.length, 2000);
  assert.equal(new Set(v.tokens).size, 2000);
  assert.deepEqual(v.tokens.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
  assert.equal(v.types[3 + 255], 6);
});
