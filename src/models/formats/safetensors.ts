/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte range, then the data.
 */
import { open } from "node:fs/promises";
import { ModelFormatError } from "../errors.js";

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: SafetensorsEntry[];
  metadata: Record<string, string>;
  fileSize: number;
}

/** The safetensors format's own bound on the header (100 MB). */
export const SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024;

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** True when the first bytes look like a safetensors header (length, then '{'). */
export function looksLikeSafetensors(head: Buffer): boolean {
  return head.length >= 9 && head[8] === 0x7b && head.readBigUInt64LE(0) > 1n;
}

/** Parses and checks a safetensors header: every range inside the file and of the right size. */
export function parseSafetensorsHeader(head: Buffer, fileSize: number): SafetensorsHeader {
  const len = head.readBigUInt64LE(0);
  if (len > BigInt(SAFETENSORS_MAX_HEADER)) {
    throw new ModelFormatError(
      "model_header_too_large",
      `safetensors header declares ${len} bytes, over the format's bound of ${SAFETENSORS_MAX_HEADER}`,
    );
  }
  const n = Number(len);
  if (8 + n > fileSize || 8 + n > head.length) {
    throw new ModelFormatError("model_truncated", "the file ends inside its safetensors header");
  }
  let json: unknown;
  try {
    json = JSON.parse(head.toString("utf8", 8, 8 + n));
  } catch {
    throw new ModelFormatError("model_invalid", "the safetensors header is not valid JSON");
  }
  if (!isPlainObject(json)) {
    throw new ModelFormatError("model_invalid", "the safetensors header is not a JSON object");
  }
  const dataStart = 8 + n;
  const tensors: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(raw);
      continue;
    }
    // A hostile header can hold anything JSON can: null, numbers, nested arrays, huge values.
    const e = (isPlainObject(raw) ? raw : {}) as {
      dtype?: unknown;
      shape?: unknown;
      data_offsets?: unknown;
    };
    const dtype = typeof e.dtype === "string" ? e.dtype : "";
    const size = Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype] : undefined;
    const shape = e.shape;
    const offsets = e.data_offsets;
    if (
      !size ||
      !isCountArray(shape) ||
      !isCountArray(offsets) ||
      offsets.length !== 2 ||
      offsets[0]! > offsets[1]!
    ) {
      throw new ModelFormatError(
        "model_invalid",
        `safetensors entry "${name}" has no valid dtype, shape or offsets`,
      );
    }
    const start = dataStart + offsets[0]!;
    const end = dataStart + offsets[1]!;
    const expected = shape.reduce((a, b) => a * b, 1) * size;
    if (end - start !== expected) {
      throw new ModelFormatError(
        "model_invalid",
        `safetensors tensor "${name}" holds ${end - start} bytes, its shape needs ${expected}`,
      );
    }
    if (end > fileSize) {
      throw new ModelFormatError(
        "model_tensor_out_of_bounds",
        `safetensors tensor "${name}" ends past the end of the file`,
      );
    }
    tensors.push({ name, dtype, shape, start, end });
  }
  return { tensors, metadata, fileSize };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An array of non-negative safe integers (a shape or a byte range). */
function isCountArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length <= 8 && v.every((x) => Number.isSafeInteger(x) && x >= 0);
}

function checkMetadata(raw: unknown): Record<string, string> {
  if (!isPlainObject(raw) || !Object.values(raw).every((v) => typeof v === "string")) {
    throw new ModelFormatError(
      "model_invalid",
      "the safetensors __metadata__ is not an object of strings",
    );
  }
  return raw as Record<string, string>;
}

/** Reads a safetensors file's header. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, "r");
  try {
    const fileSize = (await fh.stat()).size;
    const pre = Buffer.alloc(8);
    await fh.read(pre, 0, 8, 0);
    const len = Math.min(Number(pre.readBigUInt64LE(0)), SAFETENSORS_MAX_HEADER + 1);
    const head = Buffer.alloc(Math.min(fileSize, 8 + len));
    await fh.read(head, 0, head.length, 0);
    return parseSafetensorsHeader(head, fileSize);
  } finally {
    await fh.close();
  }
}

/** Reads one tensor's bytes. */
export async function readSafetensorsTensor(path: string, e: SafetensorsEntry): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(e.end - e.start);
    await fh.read(buf, 0, buf.length, e.start);
    return buf;
  } finally {
    await fh.close();
  }
}
