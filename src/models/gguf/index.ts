export * from "./types.js";
export { parseGgufHeader, readGgufHeader, checkTensorBounds, GGUF_LIMITS } from "./reader.js";
export {
  encodeGgufHeader,
  layoutTensors,
  writeGgufFile,
  gv,
  type GgufTensorInput,
} from "./writer.js";
export { GgufFile, GgufMetadata, plainValue } from "./file.js";
export { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from "./half.js";
export {
  quantizeQ8_0,
  quantizeQ4_0,
  dequantizeQ8_0,
  dequantizeQ4_0,
  toFloat32,
  fromFloat32,
} from "./quantize.js";
