/** A GGUF file opened for reading: its header, typed metadata lookups and tensor data. */
import { open } from "node:fs/promises";
import { ModelFormatError } from "../errors.js";
import { readGgufHeader } from "./reader.js";
import {
  GgufValueType,
  tensorBytes,
  type GgufHeader,
  type GgufTensorInfo,
  type GgufValue,
} from "./types.js";

/** Plain JS value of a metadata entry (arrays as arrays, 64-bit integers as numbers when safe). */
export function plainValue(v: GgufValue | undefined): unknown {
  if (!v) return undefined;
  const plain = (x: unknown): unknown =>
    typeof x === "bigint" &&
    x <= BigInt(Number.MAX_SAFE_INTEGER) &&
    x >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(x)
      : x;
  if (v.type === GgufValueType.ARRAY) {
    const walk = (a: { itemType: GgufValueType; items: unknown[] }): unknown[] =>
      a.itemType === GgufValueType.ARRAY
        ? (a.items as { itemType: GgufValueType; items: unknown[] }[]).map(walk)
        : a.items.map(plain);
    return walk(v.value as never);
  }
  return plain(v.value);
}

/** Metadata lookups that name the key when it is missing or of the wrong kind. */
export class GgufMetadata {
  constructor(readonly map: Map<string, GgufValue>) {}
  has(key: string): boolean {
    return this.map.has(key);
  }
  get(key: string): unknown {
    return plainValue(this.map.get(key));
  }
  string(key: string): string | undefined {
    const v = this.get(key);
    return typeof v === "string" ? v : undefined;
  }
  number(key: string): number | undefined {
    const v = this.get(key);
    return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
  }
  requireNumber(key: string): number {
    const v = this.number(key);
    if (v === undefined)
      throw new ModelFormatError("model_invalid", `GGUF metadata "${key}" is missing`);
    return v;
  }
  array(key: string): unknown[] | undefined {
    const v = this.get(key);
    return Array.isArray(v) ? v : undefined;
  }
}

export class GgufFile {
  readonly meta: GgufMetadata;
  private constructor(
    readonly path: string,
    readonly header: GgufHeader,
    readonly fileSize: number,
  ) {
    this.meta = new GgufMetadata(header.metadata);
  }

  static async open(path: string): Promise<GgufFile> {
    const { fileSize, ...header } = await readGgufHeader(path);
    return new GgufFile(path, header, fileSize);
  }

  get architecture(): string {
    return this.meta.string("general.architecture") ?? "unknown";
  }

  tensor(name: string): GgufTensorInfo | undefined {
    return this.header.tensors.find((t) => t.name === name);
  }

  /** The raw bytes of one tensor. */
  async readTensor(t: GgufTensorInfo): Promise<Buffer> {
    const bytes = tensorBytes(t.type, t.dims);
    const fh = await open(this.path, "r");
    try {
      const buf = Buffer.alloc(bytes);
      const { bytesRead } = await fh.read(buf, 0, bytes, this.header.dataOffset + t.offset);
      if (bytesRead !== bytes)
        throw new ModelFormatError("model_truncated", `tensor "${t.name}" is cut short`);
      return buf;
    } finally {
      await fh.close();
    }
  }
}
