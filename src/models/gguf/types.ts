/**
 * GGUF's value types and ggml's tensor types, as defined by ggml's gguf.h and ggml.h
 * (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
 */

/** Metadata value types (enum gguf_type). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** One array: its item type and its items (bigint for 64-bit integers, nested arrays allowed). */
export interface GgufArray {
  itemType: GgufValueType;
  items: GgufScalar[] | GgufArray[];
}

export type GgufScalar = number | bigint | boolean | string;

/** A typed metadata value; the type is kept so that a file is written back byte for byte. */
export type GgufValue =
  | { type: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar }
  | { type: GgufValueType.ARRAY; value: GgufArray };

/** ggml tensor types (enum ggml_type); the gaps are types ggml has removed. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
}

/** Elements per block and bytes per block of each type (ggml.c's type_traits table). */
const BLOCKS: Record<GgmlType, [number, number]> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.Q4_0]: [32, 18],
  [GgmlType.Q4_1]: [32, 20],
  [GgmlType.Q5_0]: [32, 22],
  [GgmlType.Q5_1]: [32, 24],
  [GgmlType.Q8_0]: [32, 34],
  [GgmlType.Q8_1]: [32, 36],
  [GgmlType.Q2_K]: [256, 84],
  [GgmlType.Q3_K]: [256, 110],
  [GgmlType.Q4_K]: [256, 144],
  [GgmlType.Q5_K]: [256, 176],
  [GgmlType.Q6_K]: [256, 210],
  [GgmlType.Q8_K]: [256, 292],
  [GgmlType.IQ2_XXS]: [256, 66],
  [GgmlType.IQ2_XS]: [256, 74],
  [GgmlType.IQ3_XXS]: [256, 98],
  [GgmlType.IQ1_S]: [256, 50],
  [GgmlType.IQ4_NL]: [32, 18],
  [GgmlType.IQ3_S]: [256, 110],
  [GgmlType.IQ2_S]: [256, 82],
  [GgmlType.IQ4_XS]: [256, 136],
  [GgmlType.I8]: [1, 1],
  [GgmlType.I16]: [1, 2],
  [GgmlType.I32]: [1, 4],
  [GgmlType.I64]: [1, 8],
  [GgmlType.F64]: [1, 8],
  [GgmlType.IQ1_M]: [256, 56],
  [GgmlType.BF16]: [1, 2],
  [GgmlType.TQ1_0]: [256, 54],
  [GgmlType.TQ2_0]: [256, 66],
  [GgmlType.MXFP4]: [32, 17],
};

/** True when the number is a ggml tensor type this codec knows the size of. */
export function isKnownGgmlType(type: number): type is GgmlType {
  return Object.hasOwn(BLOCKS, type);
}

/** Elements per block and bytes per block. */
export function blockOf(type: GgmlType): { blockSize: number; typeSize: number } {
  const [blockSize, typeSize] = BLOCKS[type];
  return { blockSize, typeSize };
}

/** The type's name as llama.cpp prints it (F32, Q8_0, …). */
export function ggmlTypeName(type: number): string {
  return GgmlType[type] ?? `type ${type}`;
}

/** Bytes of a tensor of this type and shape; the first dimension must fill whole blocks. */
export function tensorBytes(type: GgmlType, dims: readonly number[]): number {
  const { blockSize, typeSize } = blockOf(type);
  const elements = dims.reduce((n, d) => n * d, 1);
  return (elements / blockSize) * typeSize;
}

/** One tensor's entry in the GGUF header; dims are in ggml order (fastest-varying first). */
export interface GgufTensorInfo {
  name: string;
  dims: number[];
  type: GgmlType;
  /** Offset of the data from the start of the data section. */
  offset: number;
}

/** Everything before the tensor data. */
export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section in the file. */
  dataOffset: number;
}

/** general.alignment when the file sets none (gguf.h GGUF_DEFAULT_ALIGNMENT). */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** The four bytes a GGUF file starts with. */
export const GGUF_MAGIC = "GGUF";
