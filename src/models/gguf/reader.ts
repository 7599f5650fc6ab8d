/**
 * The GGUF header reader: metadata of every value type (arrays included), tensor infos and
 * alignment. It reads from a buffer holding the start of the file and reports a structure that
 * runs past the buffer, so that the file reader can read more or call the file truncated.
 */
import { open } from "node:fs/promises";
import { ModelFormatError } from "../errors.js";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
  blockOf,
  isKnownGgmlType,
  tensorBytes,
  type GgufArray,
  type GgufHeader,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufValue,
} from "./types.js";

/** Bounds against hostile headers: no real model comes near them. */
export const GGUF_LIMITS = {
  /** Longest string (a chat template or a merges entry is far shorter). */
  maxStringBytes: 16 * 1024 * 1024,
  /** Most items in one array (the largest vocabularies have about 260k tokens). */
  maxArrayItems: 16 * 1024 * 1024,
  maxTensors: 1_000_000,
  maxMetadata: 1_000_000,
  maxDims: 4,
  /** Largest header read into memory. */
  maxHeaderBytes: 512 * 1024 * 1024,
  /**
   * Estimated JS memory the parsed metadata may take. The byte bound alone does not bound
   * memory: a 1-byte array item becomes an 8-byte array slot (a 512 MiB sparse header of u8
   * arrays took a process to 4.7 GB and a V8 abort). Each item is charged its slot and the
   * object behind it; a 262k-token vocabulary with scores, types and merges costs about 40 MiB.
   */
  maxParsedBytes: 256 * 1024 * 1024,
  /** Deepest array nesting (llama.cpp refuses nested arrays; recursion must not overflow). */
  maxArrayDepth: 4,
  /** Largest `general.alignment` (ggml uses 32; a page is at most 64 KiB). */
  maxAlignment: 64 * 1024,
};

/** JS memory charged per parsed value: an array slot plus, for boxed values, the object. */
const SLOT_BYTES = 8;
const BIGINT_BYTES = 32;
const STRING_OVERHEAD_BYTES = 24;

/** Thrown inside the parser when the buffer ends; the caller decides whether more exists. */
class NeedMoreBytes extends Error {}

const decoder = new TextDecoder("utf-8");

class Cursor {
  pos = 0;
  /** Estimated JS memory of the values parsed so far (see GGUF_LIMITS.maxParsedBytes). */
  private parsedBytes = 0;
  constructor(readonly buf: Buffer) {}
  charge(bytes: number): void {
    this.parsedBytes += bytes;
    if (this.parsedBytes > GGUF_LIMITS.maxParsedBytes) {
      throw new ModelFormatError(
        "model_header_too_large",
        `the GGUF metadata would take over ${GGUF_LIMITS.maxParsedBytes} bytes of memory`,
      );
    }
  }
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new NeedMoreBytes();
  }
  u8() {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u32() {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A u64 that must fit a JS number and stay under a bound. */
  count(what: string, max: number): number {
    const v = this.u64();
    if (v > BigInt(max)) {
      throw new ModelFormatError(
        "model_header_too_large",
        `GGUF header declares ${v} ${what}, over the bound of ${max}`,
      );
    }
    return Number(v);
  }
  string(): string {
    const len = this.count("bytes in a string", GGUF_LIMITS.maxStringBytes);
    this.need(len);
    // A decoded string takes up to two bytes a character.
    if (len > 0) this.charge(STRING_OVERHEAD_BYTES + 2 * len);
    const s = decoder.decode(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  scalar(type: GgufValueType): GgufScalar {
    const b = this.buf;
    const fixed = (n: number, read: (p: number) => number | bigint) => {
      this.need(n);
      const v = read(this.pos);
      this.pos += n;
      return v;
    };
    switch (type) {
      case GgufValueType.UINT8:
        return fixed(1, (p) => b.readUInt8(p));
      case GgufValueType.INT8:
        return fixed(1, (p) => b.readInt8(p));
      case GgufValueType.UINT16:
        return fixed(2, (p) => b.readUInt16LE(p));
      case GgufValueType.INT16:
        return fixed(2, (p) => b.readInt16LE(p));
      case GgufValueType.UINT32:
        return fixed(4, (p) => b.readUInt32LE(p));
      case GgufValueType.INT32:
        return fixed(4, (p) => b.readInt32LE(p));
      case GgufValueType.FLOAT32:
        return fixed(4, (p) => b.readFloatLE(p));
      case GgufValueType.BOOL: {
        const v = this.u8();
        if (v > 1)
          throw new ModelFormatError("model_invalid", `GGUF bool value ${v} is not 0 or 1`);
        return v === 1;
      }
      case GgufValueType.STRING:
        return this.string();
      case GgufValueType.UINT64:
        return fixed(8, (p) => b.readBigUInt64LE(p));
      case GgufValueType.INT64:
        return fixed(8, (p) => b.readBigInt64LE(p));
      case GgufValueType.FLOAT64:
        return fixed(8, (p) => b.readDoubleLE(p));
      default:
        throw new ModelFormatError("model_invalid", `unknown GGUF value type ${type as number}`);
    }
  }
  array(depth: number): GgufArray {
    if (depth > GGUF_LIMITS.maxArrayDepth) {
      throw new ModelFormatError(
        "model_invalid",
        `GGUF arrays are nested over ${GGUF_LIMITS.maxArrayDepth} deep`,
      );
    }
    const itemType = this.u32() as GgufValueType;
    const n = this.count("array items", GGUF_LIMITS.maxArrayItems);
    const fixed = FIXED_ITEM_BYTES[itemType];
    // Items of a fixed size must be in the buffer before any memory is given to them; the
    // others (strings, arrays) take at least 8 bytes each in the file.
    this.need(n * (fixed ?? 8));
    const boxed = itemType === GgufValueType.UINT64 || itemType === GgufValueType.INT64;
    this.charge(n * (SLOT_BYTES + (boxed ? BIGINT_BYTES : 0)));
    if (itemType === GgufValueType.ARRAY) {
      const items: GgufArray[] = [];
      for (let i = 0; i < n; i++) items.push(this.array(depth + 1));
      return { itemType, items };
    }
    const items: GgufScalar[] = [];
    for (let i = 0; i < n; i++) items.push(this.scalar(itemType));
    return { itemType, items };
  }
  value(type: GgufValueType): GgufValue {
    if (type === GgufValueType.ARRAY) return { type, value: this.array(1) };
    return { type, value: this.scalar(type) } as GgufValue;
  }
}

/** Bytes each fixed-size value type takes in the file. */
const FIXED_ITEM_BYTES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

/** Checks the magic and the version; returns the version. */
export function checkGgufPreamble(buf: Buffer): number {
  if (buf.length < 8)
    throw new ModelFormatError("model_truncated", "file is shorter than a GGUF preamble");
  if (buf.toString("latin1", 0, 4) !== GGUF_MAGIC) {
    throw new ModelFormatError("model_unknown_format", "not a GGUF file (no GGUF magic)");
  }
  const version = buf.readUInt32LE(4);
  if (version === 1) {
    throw new ModelFormatError(
      "model_unsupported_version",
      "GGUF v1 (2023, 32-bit counts) is not supported; convert the model again with a current llama.cpp",
    );
  }
  if (version > 0xffff && buf.readUInt32BE(4) <= 3) {
    throw new ModelFormatError(
      "model_unsupported_version",
      "big-endian GGUF is not supported; this server runs on little-endian machines",
    );
  }
  if (version !== 2 && version !== 3) {
    throw new ModelFormatError(
      "model_unsupported_version",
      `GGUF version ${version} is not supported (versions 2 and 3 are)`,
    );
  }
  return version;
}

/**
 * Parses a GGUF header from a buffer that holds at least the header. `fileSize` (when known)
 * lets it check that every tensor's data lies inside the file.
 */
export function parseGgufHeader(buf: Buffer, fileSize?: number): GgufHeader {
  try {
    return parse(buf, fileSize);
  } catch (err) {
    if (err instanceof NeedMoreBytes) {
      throw new ModelFormatError(
        "model_truncated",
        "the GGUF header ends before its declared size",
      );
    }
    throw err;
  }
}

function parse(buf: Buffer, fileSize: number | undefined): GgufHeader {
  const version = checkGgufPreamble(buf);
  const c = new Cursor(buf);
  c.pos = 8;
  const tensorCount = c.count("tensors", GGUF_LIMITS.maxTensors);
  const kvCount = c.count("metadata entries", GGUF_LIMITS.maxMetadata);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string();
    const type = c.u32() as GgufValueType;
    if (metadata.has(key))
      throw new ModelFormatError("model_invalid", `duplicate GGUF key "${key}"`);
    metadata.set(key, c.value(type));
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    // llama.cpp refuses a file that names one tensor twice.
    if (names.has(name))
      throw new ModelFormatError("model_invalid", `duplicate tensor name "${name}"`);
    names.add(name);
    c.charge(SLOT_BYTES * 8);
    const nDims = c.u32();
    if (nDims < 1 || nDims > GGUF_LIMITS.maxDims) {
      throw new ModelFormatError("model_invalid", `tensor "${name}" has ${nDims} dimensions`);
    }
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++)
      dims.push(c.count(`elements in a dimension of "${name}"`, 2 ** 40));
    const type = c.u32();
    if (!isKnownGgmlType(type)) {
      throw new ModelFormatError("model_invalid", `tensor "${name}" has unknown ggml type ${type}`);
    }
    const offset = c.count(`bytes of offset for "${name}"`, Number.MAX_SAFE_INTEGER);
    tensors.push({ name, dims, type, offset });
  }
  const alignValue = metadata.get("general.alignment");
  const alignment = alignValue ? Number(alignValue.value) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
    throw new ModelFormatError(
      "model_invalid",
      `general.alignment ${alignment} is not a power of two`,
    );
  }
  if (alignment > GGUF_LIMITS.maxAlignment) {
    throw new ModelFormatError(
      "model_invalid",
      `general.alignment ${alignment} is over the bound of ${GGUF_LIMITS.maxAlignment}`,
    );
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const header: GgufHeader = { version, metadata, tensors, alignment, dataOffset };
  if (fileSize !== undefined) checkTensorBounds(header, fileSize);
  return header;
}

/** Every tensor must be aligned, fill whole blocks and end inside the file. */
export function checkTensorBounds(header: GgufHeader, fileSize: number): void {
  if (header.tensors.length > 0 && header.dataOffset > fileSize) {
    throw new ModelFormatError("model_truncated", "the file ends before its tensor data starts");
  }
  for (const t of header.tensors) {
    if (t.offset % header.alignment !== 0) {
      throw new ModelFormatError(
        "model_invalid",
        `tensor "${t.name}" is not aligned to ${header.alignment} bytes`,
      );
    }
    const { blockSize } = blockOf(t.type);
    // ggml stores rows of whole blocks: llama.cpp refuses a row length not a multiple of the
    // block (32 for Q8_0), even when the whole tensor would fill whole blocks.
    if (t.dims[0]! % blockSize !== 0) {
      throw new ModelFormatError(
        "model_invalid",
        `tensor "${t.name}" has rows of ${t.dims[0]} elements, not a multiple of its ${blockSize}-element blocks`,
      );
    }
    const bytes = tensorBytes(t.type, t.dims);
    if (!Number.isInteger(bytes)) {
      throw new ModelFormatError(
        "model_invalid",
        `tensor "${t.name}" does not fill whole ${t.type} blocks`,
      );
    }
    const end = header.dataOffset + t.offset + bytes;
    if (end > fileSize) {
      throw new ModelFormatError(
        "model_tensor_out_of_bounds",
        `tensor "${t.name}" ends at byte ${end}, past the end of the file (${fileSize} bytes)`,
      );
    }
  }
}

/** Reads a GGUF file's header, reading more of the file until the header fits. */
export async function readGgufHeader(path: string): Promise<GgufHeader & { fileSize: number }> {
  const fh = await open(path, "r");
  try {
    const fileSize = (await fh.stat()).size;
    let chunk = Math.min(fileSize, 4 * 1024 * 1024);
    for (;;) {
      const buf = Buffer.alloc(chunk);
      const { bytesRead } = await fh.read(buf, 0, chunk, 0);
      try {
        return { ...parse(buf.subarray(0, bytesRead), fileSize), fileSize };
      } catch (err) {
        if (!(err instanceof NeedMoreBytes)) throw err;
        if (chunk >= fileSize) {
          throw new ModelFormatError("model_truncated", "the file ends inside its GGUF header");
        }
        if (chunk >= GGUF_LIMITS.maxHeaderBytes) {
          throw new ModelFormatError(
            "model_header_too_large",
            `the GGUF header is over ${GGUF_LIMITS.maxHeaderBytes} bytes`,
          );
        }
        chunk = Math.min(fileSize, chunk * 4, GGUF_LIMITS.maxHeaderBytes);
      }
    }
  } finally {
    await fh.close();
  }
}
