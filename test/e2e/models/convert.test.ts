import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { unlinkSync } from "node:fs";
import {
  f16ToF32,
  f32ToF16,
  GgmlType,
  GgufFile,
  plainValue,
  toFloat32,
  validateModel,
} from "../../../src/models/index.js";
import { STORIES_GREEDY_64, STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { bulwark } from "../../helpers/cli.js";
import { complete } from "../../helpers/llama.js";
import { tempDir, writeBadFiles } from "../../helpers/model-files.js";
import { writeHfFolder } from "../../helpers/hf-export.js";

async function sameTensors(a: string, b: string, transform?: (x: Float32Array) => Float32Array) {
  const [fa, fb] = await Promise.all([GgufFile.open(a), GgufFile.open(b)]);
  assert.deepEqual(
    fb.header.tensors.map((t) => t.name).sort(),
    fa.header.tensors.map((t) => t.name).sort(),
  );
  for (const t of fa.header.tensors) {
    const u = fb.tensor(t.name)!;
    assert.deepEqual(u.dims, t.dims, t.name);
    const n = t.dims.reduce((x, y) => x * y, 1);
    let want = toFloat32(t.type, await fa.readTensor(t), n);
    if (transform) want = transform(want); // an F16 folder rounds norms too
    const got = toFloat32(u.type, await fb.readTensor(u), n);
    assert.ok(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `tensor ${t.name} differs`);
  }
  for (const key of ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type"]) {
    assert.deepEqual(
      plainValue(fb.header.metadata.get(key)),
      plainValue(fa.header.metadata.get(key)),
      key,
    );
  }
  return fb;
}

test("Hugging Face round trip (F32, tokenizer.model): same tensors, same greedy text", async (t) => {
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const dir = tempDir();
  const hf = join(dir, "stories-hf");
  await writeHfFolder(stories, hf, { dtype: "F32", tokenizer: "tokenizer.model" });
  const out = join(dir, "back.gguf");
  const r = bulwark(["models", "convert", hf, out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /converted hf-folder/);
  const back = await sameTensors(stories, out);
  assert.deepEqual(
    plainValue(back.header.metadata.get("tokenizer.ggml.scores")),
    plainValue((await GgufFile.open(stories)).header.metadata.get("tokenizer.ggml.scores")),
  );
  assert.equal(back.tensor("blk.0.attn_q.weight")!.type, GgmlType.F32);
  assert.equal(await complete(out, "Once upon a time", 64), STORIES_GREEDY_64);
  const report = await validateModel(out, { quick: true });
  assert.equal(report.ok, true, JSON.stringify(report.failed));
});

test("Hugging Face round trip (F16, tokenizer.json, chat template): F16 tensors, same greedy text", async (t) => {
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const dir = tempDir();
  const hf = join(dir, "stories-hf16");
  const template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}";
  await writeHfFolder(stories, hf, {
    dtype: "F16",
    tokenizer: "tokenizer.json",
    chatTemplate: template,
  });
  const out = join(dir, "back16.gguf");
  const r = bulwark(["models", "convert", hf, out]);
  assert.equal(r.status, 0, r.stderr);
  const toF16 = (x: Float32Array) => x.map((v) => f16ToF32(f32ToF16(v)));
  const back = await sameTensors(stories, out, toF16);
  assert.equal(back.tensor("blk.0.attn_q.weight")!.type, GgmlType.F16);
  assert.equal(back.meta.string("tokenizer.chat_template"), template);
  assert.equal(back.meta.number("llama.attention.head_count_kv"), 4);
  assert.equal(await complete(out, "Once upon a time", 64), STORIES_GREEDY_64);

  const bf = join(dir, "stories-bf16");
  await writeHfFolder(stories, bf, { dtype: "BF16", tokenizer: "tokenizer.model" });
  const q8 = join(dir, "bf16-q8.gguf");
  const rq = bulwark(["models", "convert", bf, q8, "--type", "q8_0"]);
  assert.equal(rq.status, 0, rq.stderr);
  assert.equal((await GgufFile.open(q8)).tensor("blk.0.attn_q.weight")!.type, GgmlType.Q8_0);
  assert.ok(((await complete(q8, "Once upon a time", 32)).match(/[a-z]+/g) ?? []).length >= 10);
});

test("llama2.c round trip: export, detect, convert back to the same tensors and text", async (t) => {
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const dir = tempDir();
  const bin = join(dir, "stories260K.bin");
  const ex = bulwark(["models", "export-llama2c", stories, bin]);
  assert.equal(ex.status, 0, ex.stderr);
  assert.match(ex.stdout, /dim 64, 5 layers, vocabulary 512, shared classifier/);
  const info = JSON.parse(bulwark(["models", "inspect", bin, "--json"]).stdout);
  assert.equal(info.format, "llama2c");
  assert.equal(info.kvHeads, 4);
  const out = join(dir, "back.gguf");
  const r = bulwark(["models", "convert", bin, out]);
  assert.equal(r.status, 0, r.stderr);
  await sameTensors(stories, out);
  assert.equal(await complete(out, "Once upon a time", 64), STORIES_GREEDY_64);
  const report = await validateModel(out, { quick: true });
  assert.equal(report.ok, true, JSON.stringify(report.failed));

  unlinkSync(join(dir, "tokenizer.bin"));
  const noTok = bulwark(["models", "convert", bin, join(dir, "x.gguf")]);
  assert.equal(noTok.status, 1);
  assert.match(noTok.stderr, /needs its tokenizer\.bin/);
});

test("convert refuses what it cannot convert, with a reason", async (t) => {
  const files = writeBadFiles(tempDir());
  const out = join(tempDir(), "out.gguf");
  const pickle = bulwark(["models", "convert", files["model.pt"]!, out]);
  assert.equal(pickle.status, 1);
  assert.match(pickle.stderr, /model_unsafe_pickle: .*arbitrary code/);
  const trunc = bulwark(["models", "convert", files["truncated.gguf"]!, out]);
  assert.match(trunc.stderr, /model_truncated/);
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const gguf = bulwark(["models", "convert", stories, out]);
  assert.equal(gguf.status, 1);
  assert.match(gguf.stderr, /model_unsupported: the input is already GGUF/);
});
