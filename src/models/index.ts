/** The model toolkit: GGUF codec, format detection, inspection, conversion, generated models. */
export { ModelFormatError, type ModelFormatErrorCode } from "./errors.js";
export * from "./gguf/index.js";
export { detectFormat, type DetectedFormat, type ModelFormat } from "./formats/detect.js";
export {
  estimateMemory,
  formatBytes,
  RUNTIME_BASE_BYTES,
  type MemoryEstimate,
  type MemoryShape,
} from "./memory.js";
export {
  inspectModel,
  describeGgufHeader,
  type ModelDescription,
  type InspectOptions,
} from "./inspect.js";
