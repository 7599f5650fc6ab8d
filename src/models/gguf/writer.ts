/**
 * The GGUF writer: encodes a header (metadata, tensor infos, padding to the alignment) and
 * streams tensor data after it, each tensor padded to the alignment as llama.cpp's own writer
 * does, so that reading a file and writing it back gives the same bytes.
 */
import { open } from "node:fs/promises";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
  tensorBytes,
  type GgmlType,
  type GgufArray,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufValue,
} from "./types.js";

const encoder = new TextEncoder();

class Sink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  string(s: string) {
    const bytes = Buffer.from(encoder.encode(s));
    this.u64(bytes.length);
    this.push(bytes);
  }
  scalar(type: GgufValueType, v: GgufScalar) {
    const fixed = (n: number, write: (b: Buffer) => void) => {
      const b = Buffer.alloc(n);
      write(b);
      this.push(b);
    };
    switch (type) {
      case GgufValueType.UINT8:
        return fixed(1, (b) => b.writeUInt8(Number(v)));
      case GgufValueType.INT8:
        return fixed(1, (b) => b.writeInt8(Number(v)));
      case GgufValueType.UINT16:
        return fixed(2, (b) => b.writeUInt16LE(Number(v)));
      case GgufValueType.INT16:
        return fixed(2, (b) => b.writeInt16LE(Number(v)));
      case GgufValueType.UINT32:
        return fixed(4, (b) => b.writeUInt32LE(Number(v)));
      case GgufValueType.INT32:
        return fixed(4, (b) => b.writeInt32LE(Number(v)));
      case GgufValueType.FLOAT32:
        return fixed(4, (b) => b.writeFloatLE(Number(v)));
      case GgufValueType.BOOL:
        return fixed(1, (b) => b.writeUInt8(v ? 1 : 0));
      case GgufValueType.STRING:
        return this.string(String(v));
      case GgufValueType.UINT64:
        return fixed(8, (b) => b.writeBigUInt64LE(BigInt(v)));
      case GgufValueType.INT64:
        return fixed(8, (b) => b.writeBigInt64LE(BigInt(v)));
      case GgufValueType.FLOAT64:
        return fixed(8, (b) => b.writeDoubleLE(Number(v)));
      default:
        throw new Error(`unknown GGUF value type ${type as number}`);
    }
  }
  array(a: GgufArray) {
    this.u32(a.itemType);
    this.u64(a.items.length);
    if (a.itemType === GgufValueType.ARRAY) {
      for (const item of a.items as GgufArray[]) this.array(item);
    } else {
      for (const item of a.items as GgufScalar[]) this.scalar(a.itemType, item);
    }
  }
  value(v: GgufValue) {
    this.u32(v.type);
    if (v.type === GgufValueType.ARRAY) this.array(v.value);
    else this.scalar(v.type, v.value);
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/** A tensor to write: its name, ggml shape and type, and its bytes (or a function giving them). */
export interface GgufTensorInput {
  name: string;
  dims: number[];
  type: GgmlType;
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Offsets of each tensor in the data section: in order, each one aligned. */
export function layoutTensors(
  tensors: readonly Omit<GgufTensorInput, "data">[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): GgufTensorInfo[] {
  let offset = 0;
  return tensors.map((t) => {
    const info = { name: t.name, dims: [...t.dims], type: t.type, offset };
    offset = alignUp(offset + tensorBytes(t.type, t.dims), alignment);
    return info;
  });
}

function alignmentOf(metadata: Map<string, GgufValue>): number {
  const v = metadata.get("general.alignment");
  return v ? Number(v.value) : GGUF_DEFAULT_ALIGNMENT;
}

/** Encodes the header and the padding that brings it to the start of the data section. */
export function encodeGgufHeader(
  metadata: Map<string, GgufValue>,
  tensors: readonly GgufTensorInfo[],
  version = 3,
): Buffer {
  const s = new Sink();
  s.push(Buffer.from(GGUF_MAGIC, "latin1"));
  s.u32(version);
  s.u64(tensors.length);
  s.u64(metadata.size);
  for (const [key, value] of metadata) {
    s.string(key);
    s.value(value);
  }
  for (const t of tensors) {
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(t.type);
    s.u64(t.offset);
  }
  const alignment = alignmentOf(metadata);
  s.push(Buffer.alloc(alignUp(s.length, alignment) - s.length));
  return s.concat();
}

/** Writes a whole GGUF file, streaming one tensor at a time. Returns the file's size. */
export async function writeGgufFile(
  path: string,
  metadata: Map<string, GgufValue>,
  tensors: readonly GgufTensorInput[],
  version = 3,
): Promise<number> {
  const alignment = alignmentOf(metadata);
  const infos = layoutTensors(tensors, alignment);
  const header = encodeGgufHeader(metadata, infos, version);
  const fh = await open(path, "w");
  try {
    await fh.write(header);
    let written = 0;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!;
      const data = typeof t.data === "function" ? await t.data() : t.data;
      const expected = tensorBytes(t.type, t.dims);
      if (data.byteLength !== expected) {
        throw new Error(
          `tensor "${t.name}" has ${data.byteLength} bytes, its shape needs ${expected}`,
        );
      }
      await fh.write(data);
      written += data.byteLength;
      const padded = alignUp(written, alignment);
      if (padded > written) await fh.write(Buffer.alloc(padded - written));
      written = padded;
    }
    return header.length + written;
  } finally {
    await fh.close();
  }
}

/** Shorthands for typed metadata values. */
export const gv = {
  u32: (v: number): GgufValue => ({ type: GgufValueType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufValueType.INT32, value: v }),
  f32: (v: number): GgufValue => ({ type: GgufValueType.FLOAT32, value: v }),
  bool: (v: boolean): GgufValue => ({ type: GgufValueType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufValueType.STRING, value: v }),
  strs: (v: string[]): GgufValue => ({
    type: GgufValueType.ARRAY,
    value: { itemType: GgufValueType.STRING, items: v },
  }),
  f32s: (v: number[]): GgufValue => ({
    type: GgufValueType.ARRAY,
    value: { itemType: GgufValueType.FLOAT32, items: v },
  }),
  i32s: (v: number[]): GgufValue => ({
    type: GgufValueType.ARRAY,
    value: { itemType: GgufValueType.INT32, items: v },
  }),
};
