import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGgufHeader, parseSafetensorsHeader } from "../../../src/models/index.js";
import {
  duplicateTensorNames,
  hugeAlignment,
  nestedArrays,
  q8RowNotBlock,
  safetensorsNullEntry,
  smallHugeArray,
} from "../../helpers/hostile-files.js";

function code(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return "accepted";
}

test("the GGUF reader refuses hostile headers with codes", () => {
  assert.equal(
    code(() => parseGgufHeader(smallHugeArray())),
    "model_truncated",
  );
  assert.equal(
    code(() => parseGgufHeader(nestedArrays(200_000))),
    "model_invalid",
  );
  assert.equal(
    code(() => parseGgufHeader(nestedArrays(4))),
    "accepted",
  );
  assert.equal(
    code(() => parseGgufHeader(hugeAlignment())),
    "model_invalid",
  );
  const q8 = q8RowNotBlock();
  assert.equal(
    code(() => parseGgufHeader(q8, q8.length)),
    "model_invalid",
  );
  const dup = duplicateTensorNames();
  assert.equal(
    code(() => parseGgufHeader(dup, dup.length)),
    "model_invalid",
  );
});

test("the GGUF reader charges parsed values against a memory budget", () => {
  // Three arrays of 16 Mi zero bytes: 48 MiB of file, 384 MiB of JS array slots.
  const items = 16 * 1024 * 1024;
  const head = Buffer.from("GGUF\x03\x00\x00\x00", "latin1");
  const parts: Buffer[] = [head, u64(0), u64(3)];
  for (let i = 0; i < 3; i++) {
    const key = Buffer.from(`k${i}`);
    parts.push(u64(key.length), key, u32(9), u32(0), u64(items), Buffer.alloc(items));
  }
  assert.equal(
    code(() => parseGgufHeader(Buffer.concat(parts))),
    "model_header_too_large",
  );
});

test("the safetensors reader refuses entries that are not objects or hold bad numbers", () => {
  const st = safetensorsNullEntry();
  assert.equal(
    code(() => parseSafetensorsHeader(st, st.length)),
    "model_invalid",
  );
  for (const json of [
    "[1,2]",
    '{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}',
    '{"w":{"dtype":"constructor","shape":[1],"data_offsets":[0,4]}}',
    '{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}',
    '{"__metadata__":{"a":1}}',
  ]) {
    const j = Buffer.from(json);
    const buf = Buffer.concat([u64(j.length), j, Buffer.alloc(8)]);
    assert.equal(
      code(() => parseSafetensorsHeader(buf, buf.length)),
      "model_invalid",
      json,
    );
  }
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
