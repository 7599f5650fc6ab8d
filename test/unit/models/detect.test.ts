import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ModelFormatError, detectFormat } from "../../../src/models/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { tempDir, tinyGguf, writeBadFiles } from "../../helpers/model-files.js";

async function codeOf(path: string): Promise<string> {
  try {
    await detectFormat(path);
    return "ok";
  } catch (err) {
    assert.ok(err instanceof ModelFormatError, `expected a ModelFormatError, got ${String(err)}`);
    assert.ok(err.message.length > 10);
    return err.code;
  }
}

test("formats are told by content, whatever the file is called", async (t) => {
  const dir = tempDir();
  const gguf = join(dir, "model.safetensors");
  writeFileSync(gguf, tinyGguf());
  assert.equal((await detectFormat(gguf)).format, "gguf");

  const header = Buffer.from(
    JSON.stringify({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }),
  );
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const st = join(dir, "weights.gguf");
  writeFileSync(st, Buffer.concat([len, header, Buffer.alloc(8)]));
  const detected = await detectFormat(st);
  assert.equal(detected.format, "safetensors");
  if (detected.format === "safetensors") assert.deepEqual(detected.header.tensors[0]!.shape, [2]);

  // ONNX ModelProto: ir_version = 8, then producer_name "pytorch".
  const onnx = join(dir, "model.bin");
  writeFileSync(
    onnx,
    Buffer.concat([
      Buffer.from([0x08, 0x08, 0x12, 0x07]),
      Buffer.from("pytorch"),
      Buffer.alloc(32),
    ]),
  );
  assert.equal((await detectFormat(onnx)).format, "onnx");

  const zip = join(dir, "model.ckpt");
  writeFileSync(
    zip,
    Buffer.concat([
      Buffer.from([0x50, 0x4b, 0x03, 0x04]),
      Buffer.alloc(26),
      Buffer.from("archive/data.pkl"),
    ]),
  );
  assert.equal(await codeOf(zip), "model_unsafe_pickle");

  const hf = join(dir, "hf");
  mkdirSync(hf);
  writeFileSync(join(hf, "config.json"), "{}");
  writeFileSync(join(hf, "model.safetensors"), Buffer.concat([len, header, Buffer.alloc(8)]));
  assert.equal((await detectFormat(hf)).format, "hf-folder");

  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const d = await detectFormat(stories);
  assert.equal(d.format, "gguf");
});

test("crafted bad files get a clear error with a stable code", async () => {
  const files = writeBadFiles(tempDir());
  assert.equal(await codeOf(files["truncated.gguf"]!), "model_truncated");
  assert.equal(await codeOf(files["wrong-magic.gguf"]!), "model_unknown_format");
  assert.equal(await codeOf(files["model.pt"]!), "model_unsafe_pickle");
  assert.equal(await codeOf(files["oversized-header.gguf"]!), "model_header_too_large");
  assert.equal(await codeOf(files["offset-past-end.gguf"]!), "model_tensor_out_of_bounds");
  assert.equal(await codeOf(files["oversized-header.safetensors"]!), "model_header_too_large");
  assert.equal(await codeOf(files["v1.gguf"]!), "model_unsupported_version");
  assert.equal(await codeOf(files["random.bin"]!), "model_unknown_format");
  assert.equal(await codeOf("/nonexistent/model.gguf"), "model_invalid");
  try {
    await detectFormat(files["model.pt"]!);
  } catch (err) {
    assert.match((err as Error).message, /arbitrary code/);
  }
});
