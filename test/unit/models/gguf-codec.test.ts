import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  GgmlType,
  GgufFile,
  GgufValueType,
  dequantizeQ4_0,
  dequantizeQ8_0,
  encodeGgufHeader,
  f16ToF32,
  f32ToF16,
  parseGgufHeader,
  quantizeQ4_0,
  quantizeQ8_0,
  writeGgufFile,
  type GgufValue,
} from "../../../src/models/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { tempDir } from "../../helpers/model-files.js";

test("stories260K reads and writes back to identical bytes", async (t) => {
  const path = storiesModel();
  if (!path) return t.skip(STORIES_MISSING);
  const f = await GgufFile.open(path);
  assert.equal(f.header.version, 3);
  assert.equal(f.architecture, "llama");
  assert.equal(f.meta.number("llama.block_count"), 5);
  assert.equal(f.meta.array("tokenizer.ggml.tokens")?.length, 512);
  assert.equal(f.header.tensors.length, 48);
  const out = join(tempDir(), "copy.gguf");
  const tensors = [];
  for (const info of f.header.tensors) {
    tensors.push({ ...info, data: await f.readTensor(info) });
  }
  await writeGgufFile(out, f.header.metadata, tensors, f.header.version);
  assert.ok(readFileSync(out).equals(readFileSync(path)), "round trip must give the same bytes");
});

test("every value type, nested arrays and custom alignment survive a round trip", () => {
  const metadata = new Map<string, GgufValue>([
    ["general.alignment", { type: GgufValueType.UINT32, value: 64 }],
    ["a.u8", { type: GgufValueType.UINT8, value: 255 }],
    ["a.i8", { type: GgufValueType.INT8, value: -128 }],
    ["a.u16", { type: GgufValueType.UINT16, value: 65535 }],
    ["a.i16", { type: GgufValueType.INT16, value: -32768 }],
    ["a.u32", { type: GgufValueType.UINT32, value: 4294967295 }],
    ["a.i32", { type: GgufValueType.INT32, value: -5 }],
    ["a.f32", { type: GgufValueType.FLOAT32, value: 0.5 }],
    ["a.bool", { type: GgufValueType.BOOL, value: true }],
    ["a.str", { type: GgufValueType.STRING, value: "héllo ▁wörld" }],
    ["a.u64", { type: GgufValueType.UINT64, value: 18446744073709551615n }],
    ["a.i64", { type: GgufValueType.INT64, value: -9007199254740993n }],
    ["a.f64", { type: GgufValueType.FLOAT64, value: Math.PI }],
    [
      "a.nested",
      {
        type: GgufValueType.ARRAY,
        value: {
          itemType: GgufValueType.ARRAY,
          items: [
            { itemType: GgufValueType.INT32, items: [1, 2] },
            { itemType: GgufValueType.STRING, items: ["x"] },
          ],
        },
      },
    ],
  ]);
  const tensors = [{ name: "w", dims: [32, 2], type: GgmlType.Q8_0, offset: 0 }];
  const bytes = encodeGgufHeader(metadata, tensors);
  assert.equal(bytes.length % 64, 0);
  const back = parseGgufHeader(Buffer.concat([bytes, Buffer.alloc(68)]), bytes.length + 68);
  assert.equal(back.alignment, 64);
  assert.equal(back.dataOffset, bytes.length);
  assert.deepEqual([...back.metadata.entries()], [...metadata.entries()]);
  assert.deepEqual(back.tensors, tensors);
  assert.ok(encodeGgufHeader(back.metadata, back.tensors).equals(bytes));
});

test("f16 conversion rounds to nearest even and keeps specials", () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(1e6), 0x7c00);
  assert.equal(f32ToF16(2 ** -24), 0x0001);
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie → even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
  for (const v of [0.1, -3.75, 1234.5, 6.1e-5]) {
    assert.ok(Math.abs(f16ToF32(f32ToF16(v)) - v) <= Math.abs(v) * 2 ** -11);
  }
});

test("Q8_0 and Q4_0 blocks follow ggml's reference layout", () => {
  const x = new Float32Array(32).map((_, i) => (i - 16) / 4);
  const q8 = quantizeQ8_0(x);
  assert.equal(q8.length, 34);
  // d = amax / 127 = 4 / 127 as f16; qs = round(x / d)
  assert.equal(new DataView(q8.buffer).getUint16(0, true), f32ToF16(Math.fround(4 / 127)));
  assert.equal(new Int8Array(q8.buffer)[2], -127);
  assert.equal(new Int8Array(q8.buffer)[2 + 31], Math.round((15 / 4) * (127 / 4)));
  const back8 = dequantizeQ8_0(q8, 32);
  x.forEach((v, i) => assert.ok(Math.abs(back8[i]! - v) < 0.02));

  const q4 = quantizeQ4_0(x);
  assert.equal(q4.length, 18);
  // the largest magnitude is -4 → d = -4 / -8 = 0.5; weight 0 (-4) → -8 + 8 = 0 in the low nibble
  assert.equal(f16ToF32(new DataView(q4.buffer).getUint16(0, true)), 0.5);
  assert.equal(q4[2]! & 0xf, 0);
  assert.equal(q4[2]! >> 4, 8); // weight 16 is 0 → 8
  const back4 = dequantizeQ4_0(q4, 32);
  x.forEach((v, i) => assert.ok(Math.abs(back4[i]! - v) <= 0.25 + 1e-6));
});
