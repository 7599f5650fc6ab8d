/** The model toolkit: GGUF codec, format detection, inspection, conversion, generated models. */
export { ModelFormatError, type ModelFormatErrorCode } from "./errors.js";
export * from "./gguf/index.js";
export { detectFormat, openGguf, type DetectedFormat, type ModelFormat } from "./formats/detect.js";
export { formatBytes } from "../util/format.js";
export {
  estimateMemory,
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
export { convertModel, type ConvertOptions } from "./convert.js";
export { convertHfFolder, permuteRows, unpermuteRows } from "./formats/hf-convert.js";
export {
  convertLlama2c,
  exportLlama2c,
  readLlama2cTokenizer,
  writeLlama2cTokenizer,
  type TokenizerTable,
} from "./formats/llama2c-io.js";
export { parseSentencePieceModel, encodeSentencePieceModel } from "./formats/sentencepiece.js";
export {
  parseSafetensorsHeader,
  readSafetensorsHeader,
  type SafetensorsEntry,
} from "./formats/safetensors.js";
export {
  validateModel,
  LOAD_TIME_KPI_MS,
  type ValidationReport,
  type ValidateOptions,
  type CheckResult,
  type CheckName,
} from "./validate/validate.js";
