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
export {
  DEMO_MODEL_NAME,
  DEMO_MODEL_DESCRIPTION,
  DEMO_MODEL_VERSION,
  buildDemoModel,
  writeDemoModel,
  demoWords,
} from "./generate/demo.js";
export { ensureDemoModel } from "./generate/ensure-demo.js";
export {
  quantizeModel,
  shouldQuantize,
  QUANT_TYPES,
  type QuantType,
  type QuantizeReport,
} from "./quantize-file.js";
export {
  writeRandomModel,
  syntheticVocabulary,
  RANDOM_DEFAULTS,
  type RandomModelOptions,
} from "./generate/random.js";
