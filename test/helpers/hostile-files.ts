/**
 * Hostile model files written byte by byte (the project's writer refuses to make them): each
 * is small on disk; the large ones are sparse (a few headers in a file of holes).
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

const U8 = 0;
const STRING = 8;
const ARRAY = 9;
const UINT32 = 4;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function str(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([u64(bytes.length), bytes]);
}
function preamble(tensors: number, kvs: number): Buffer {
  return Buffer.concat([Buffer.from("GGUF"), u32(3), u64(tensors), u64(kvs)]);
}

/** 59 bytes that declare an array of 16 Mi one-byte items (the old reader made 215 MB of it). */
export function smallHugeArray(): Buffer {
  const kv = Buffer.concat([str("general.x"), u32(ARRAY), u32(U8), u64(16 * 1024 * 1024)]);
  const b = Buffer.concat([preamble(0, 1), kv]);
  return Buffer.concat([b, Buffer.alloc(59 - b.length)]);
}

/**
 * A sparse file of `arrays` metadata arrays, each of 16 Mi zero bytes (u8 items): about
 * 16 MiB × arrays long, a few hundred bytes on disk.
 */
export function writeSparseArrays(path: string, arrays: number): void {
  const items = 16 * 1024 * 1024;
  const fd = openSync(path, "w");
  try {
    let pos = 0;
    const put = (b: Buffer) => {
      writeSync(fd, b, 0, b.length, pos);
      pos += b.length;
    };
    put(preamble(0, arrays));
    for (let i = 0; i < arrays; i++) {
      put(Buffer.concat([str(`k${String(i).padStart(3, "0")}`), u32(ARRAY), u32(U8), u64(items)]));
      pos += items; // the items are the file's holes: zeros
    }
    ftruncateSync(fd, pos);
  } finally {
    closeSync(fd);
  }
}

/** A metadata value of arrays nested `depth` deep (the old reader overflowed its stack). */
export function nestedArrays(depth: number): Buffer {
  const parts: Buffer[] = [preamble(0, 1), str("general.nested"), u32(ARRAY)];
  for (let i = 0; i < depth - 1; i++) parts.push(u32(ARRAY), u64(1));
  parts.push(u32(U8), u64(0));
  return Buffer.concat(parts);
}

/** 57 bytes: no tensor, `general.alignment` = 2^30 (the old quantizer wrote a 1 GiB file). */
export function hugeAlignment(): Buffer {
  return Buffer.concat([preamble(0, 1), str("general.alignment"), u32(UINT32), u32(2 ** 30)]);
}

interface RawTensor {
  name: string;
  dims: number[];
  type: number;
  offset: number;
}

/** A GGUF with the given tensor infos (not checked) and `dataBytes` zero bytes of data. */
export function rawTensors(tensors: RawTensor[], dataBytes: number): Buffer {
  const parts: Buffer[] = [
    preamble(tensors.length, 1),
    str("general.architecture"),
    u32(STRING),
    str("llama"),
  ];
  for (const t of tensors) {
    parts.push(str(t.name), u32(t.dims.length), ...t.dims.map((d) => u64(d)), u32(t.type));
    parts.push(u64(t.offset));
  }
  const head = Buffer.concat(parts);
  const padded = Math.ceil(head.length / 32) * 32;
  return Buffer.concat([head, Buffer.alloc(padded - head.length + dataBytes)]);
}

/** Q8_0 (ggml type 8: blocks of 32 elements in 34 bytes) with rows of 16: 2 rows fill 1 block. */
export function q8RowNotBlock(): Buffer {
  return rawTensors([{ name: "t", dims: [16, 2], type: 8, offset: 0 }], 64);
}

/** Two F32 tensors with the same name. */
export function duplicateTensorNames(): Buffer {
  return rawTensors(
    [
      { name: "t", dims: [8], type: 0, offset: 0 },
      { name: "t", dims: [8], type: 0, offset: 32 },
    ],
    64,
  );
}

/** A safetensors file whose one entry is JSON `null`. */
export function safetensorsNullEntry(): Buffer {
  const json = Buffer.from('{"w":null}');
  return Buffer.concat([u64(json.length), json]);
}

/** A Hugging Face folder (config + one tiny safetensors) claiming `layers` hidden layers. */
export function writeHfFolder(dir: string, layers: number): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: 8,
      intermediate_size: 16,
      num_attention_heads: 2,
      num_key_value_heads: 2,
      num_hidden_layers: layers,
      vocab_size: 4,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
    }),
  );
  const header = Buffer.from(
    JSON.stringify({
      "model.embed_tokens.weight": { dtype: "F32", shape: [4, 8], data_offsets: [0, 128] },
    }),
  );
  writeFileSync(
    join(dir, "model.safetensors"),
    Buffer.concat([u64(header.length), header, Buffer.alloc(128)]),
  );
  return dir;
}
