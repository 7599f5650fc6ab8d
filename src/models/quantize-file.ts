/**
 * Quantizes an F32 or F16 GGUF to Q8_0 or Q4_0. Matrices whose rows fill whole 32-weight blocks
 * are quantized; norms, biases and rows that do not fill blocks (stories260K's feed-forward of
 * 172) stay as they are, as llama.cpp's own quantizer leaves 1-D tensors in float.
 */
import { openGguf } from "./formats/detect.js";
import { fromFloat32, toFloat32 } from "./gguf/quantize.js";
import { GgmlType, ggmlTypeName, type GgufValue } from "./gguf/types.js";
import { gv, writeGgufFile, type GgufTensorInput } from "./gguf/writer.js";
import { ModelFormatError } from "./errors.js";

export type QuantType = "q8_0" | "q4_0" | "f16" | "f32";

export const QUANT_TYPES: Record<QuantType, { type: GgmlType; fileType: number }> = {
  // general.file_type values are llama.cpp's llama_ftype: ALL_F32 0, MOSTLY_F16 1,
  // MOSTLY_Q4_0 2, MOSTLY_Q8_0 7.
  f32: { type: GgmlType.F32, fileType: 0 },
  f16: { type: GgmlType.F16, fileType: 1 },
  q4_0: { type: GgmlType.Q4_0, fileType: 2 },
  q8_0: { type: GgmlType.Q8_0, fileType: 7 },
};

/** Whether a tensor of this name and shape gets the target type. */
export function shouldQuantize(name: string, dims: readonly number[], target: GgmlType): boolean {
  if (dims.length < 2 || !name.endsWith(".weight")) return false;
  if (target === GgmlType.F32 || target === GgmlType.F16) return true;
  return dims[0]! % 32 === 0;
}

export interface QuantizeReport {
  quantized: number;
  kept: number;
  bytesIn: number;
  bytesOut: number;
}

/** Reads `input`, writes `output` with matrices in the target type. */
export async function quantizeModel(
  input: string,
  output: string,
  target: QuantType,
  onTensor?: (index: number, total: number, name: string) => void,
): Promise<QuantizeReport> {
  const spec = QUANT_TYPES[target];
  const file = await openGguf(input);
  for (const t of file.header.tensors) {
    if (t.type !== GgmlType.F32 && t.type !== GgmlType.F16 && t.type !== GgmlType.BF16) {
      throw new ModelFormatError(
        "model_unsupported",
        `tensor "${t.name}" is ${ggmlTypeName(t.type)}: quantize from an F32, F16 or BF16 GGUF, not an already quantized one`,
      );
    }
  }
  const metadata = new Map<string, GgufValue>(file.header.metadata);
  metadata.set("general.file_type", gv.u32(spec.fileType));
  metadata.set("general.quantization_version", gv.u32(2));
  let quantized = 0;
  const total = file.header.tensors.length;
  const tensors: GgufTensorInput[] = file.header.tensors.map((t, i) => {
    const convert = shouldQuantize(t.name, t.dims, spec.type) && t.type !== spec.type;
    if (convert) quantized++;
    return {
      name: t.name,
      dims: t.dims,
      type: convert ? spec.type : t.type,
      data: async () => {
        onTensor?.(i, total, t.name);
        const raw = await file.readTensor(t);
        if (!convert) return raw;
        const n = t.dims.reduce((a, b) => a * b, 1);
        return fromFloat32(spec.type, toFloat32(t.type, raw, n));
      },
    };
  });
  const bytesOut = await writeGgufFile(output, metadata, tensors, 3);
  return { quantized, kept: total - quantized, bytesIn: file.fileSize, bytesOut };
}
