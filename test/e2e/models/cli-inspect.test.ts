import { test } from "node:test";
import assert from "node:assert/strict";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { bulwark } from "../../helpers/cli.js";
import { tempDir, writeBadFiles } from "../../helpers/model-files.js";
import { join } from "node:path";

test("models inspect describes stories260K, as text and as JSON with a memory estimate", (t) => {
  const path = storiesModel();
  if (!path) return t.skip(STORIES_MISSING);
  const text = bulwark(["models", "inspect", path]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /format\s+gguf v3/);
  assert.match(text.stdout, /parameters\s+292,800/);
  assert.match(text.stdout, /tokenizer\s+llama, 512 tokens, BOS 1, EOS 2/);
  assert.match(text.stdout, /chat template\s+none/);

  const json = bulwark(["models", "inspect", path, "--json", "--ctx", "512", "--slots", "2"]);
  assert.equal(json.status, 0, json.stderr);
  const d = JSON.parse(json.stdout);
  assert.equal(d.architecture, "llama");
  assert.equal(d.quantization, "F32");
  assert.equal(d.contextLength, 2048);
  assert.equal(d.sizeBytes, 1_185_376);
  // 5 layers × 4 KV heads × head dim 8 × (K and V) × 2 bytes × (512 × 2 tokens)
  assert.equal(d.memory.kvCacheBytes, 5 * 4 * 8 * 2 * 2 * 1024);
  assert.equal(d.memory.weightsBytes, 292_800 * 4);
  assert.equal(
    d.memory.totalBytes,
    d.memory.weightsBytes + d.memory.kvCacheBytes + d.memory.overheadBytes,
  );
});

test("models inspect refuses each crafted bad file with its code and no stack trace", () => {
  const files = writeBadFiles(tempDir());
  const expected: Record<string, string> = {
    "truncated.gguf": "model_truncated",
    "wrong-magic.gguf": "model_unknown_format",
    "model.pt": "model_unsafe_pickle",
    "oversized-header.gguf": "model_header_too_large",
    "offset-past-end.gguf": "model_tensor_out_of_bounds",
  };
  const out = join(tempDir(), "out");
  const commands = [
    (f: string) => ["models", "inspect", f],
    (f: string) => ["models", "quantize", f, `${out}.gguf`, "--type", "q8_0"],
    (f: string) => ["models", "export-llama2c", f, `${out}.bin`],
    (f: string) => ["models", "convert", f, `${out}.gguf`],
  ];
  for (const command of commands) {
    for (const [name, code] of Object.entries(expected)) {
      const args = command(files[name]!);
      const r = bulwark(args);
      const what = `${args[1]} ${name}`;
      assert.equal(r.status, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^bulwark: ${code}: `), what);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${what} printed a stack trace`);
    }
  }
});
