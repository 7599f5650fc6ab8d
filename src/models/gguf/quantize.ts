/**
 * ggml's reference quantizers for Q8_0 and Q4_0 (ggml-quants.c, quantize_row_q8_0_ref and
 * quantize_row_q4_0_ref), with float32 arithmetic emulated through Math.fround so that the
 * blocks match the C code bit for bit, and the matching dequantizers.
 *
 * block_q8_0: { ggml_half d; int8_t qs[32]; }        34 bytes per 32 weights
 * block_q4_0: { ggml_half d; uint8_t qs[16]; }        18 bytes per 32 weights; qs[j] holds
 *             weight j in its low nibble and weight j+16 in its high nibble, both offset by 8.
 */
import { bf16ToF32, f16ToF32, f32ToF16 } from "./half.js";
import { GgmlType } from "./types.js";

const QK = 32;
const fr = Math.fround;

/** C's roundf: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

export function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % QK !== 0) throw new Error(`Q8_0 needs rows of a multiple of ${QK} weights`);
  const nb = x.length / QK;
  const out = new Uint8Array(nb * 34);
  const view = new DataView(out.buffer);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[i * QK + j]!));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    view.setUint16(i * 34, f32ToF16(d), true);
    for (let j = 0; j < QK; j++) {
      view.setInt8(i * 34 + 2 + j, roundf(fr(x[i * QK + j]! * id)));
    }
  }
  return out;
}

export function quantizeQ4_0(x: Float32Array): Uint8Array {
  if (x.length % QK !== 0) throw new Error(`Q4_0 needs rows of a multiple of ${QK} weights`);
  const nb = x.length / QK;
  const out = new Uint8Array(nb * 18);
  const view = new DataView(out.buffer);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[i * QK + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    view.setUint16(i * 18, f32ToF16(d), true);
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fr(x[i * QK + j]! * id);
      const x1 = fr(x[i * QK + QK / 2 + j]! * id);
      // (int8_t)(x + 8.5f) truncates toward zero, then MIN(15, …).
      const xi0 = Math.min(15, Math.trunc(fr(x0 + 8.5)));
      const xi1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      out[i * 18 + 2 + j] = (xi0 & 0xf) | ((xi1 & 0xf) << 4);
    }
  }
  return out;
}

export function dequantizeQ8_0(data: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n / QK; i++) {
    const d = f16ToF32(view.getUint16(i * 34, true));
    for (let j = 0; j < QK; j++) out[i * QK + j] = view.getInt8(i * 34 + 2 + j) * d;
  }
  return out;
}

export function dequantizeQ4_0(data: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n / QK; i++) {
    const d = f16ToF32(view.getUint16(i * 18, true));
    for (let j = 0; j < QK / 2; j++) {
      const q = data[i * 18 + 2 + j]!;
      out[i * QK + j] = ((q & 0xf) - 8) * d;
      out[i * QK + QK / 2 + j] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}

/** Weights of an F32, F16, BF16, Q8_0 or Q4_0 tensor as float32. */
export function toFloat32(type: GgmlType, data: Uint8Array, n: number): Float32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (type) {
    case GgmlType.F32: {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case GgmlType.F16: {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      return out;
    }
    case GgmlType.BF16: {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = bf16ToF32(view.getUint16(i * 2, true));
      return out;
    }
    case GgmlType.Q8_0:
      return dequantizeQ8_0(data, n);
    case GgmlType.Q4_0:
      return dequantizeQ4_0(data, n);
    default:
      throw new Error(`cannot read weights of ggml type ${GgmlType[type] ?? type}`);
  }
}

/** Encodes float32 weights as the given type. */
export function fromFloat32(type: GgmlType, x: Float32Array): Uint8Array {
  switch (type) {
    case GgmlType.F32:
      return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
    case GgmlType.F16: {
      const out = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = f32ToF16(x[i]!);
      return new Uint8Array(out.buffer);
    }
    case GgmlType.Q8_0:
      return quantizeQ8_0(x);
    case GgmlType.Q4_0:
      return quantizeQ4_0(x);
    default:
      throw new Error(`cannot write weights as ggml type ${GgmlType[type] ?? type}`);
  }
}
