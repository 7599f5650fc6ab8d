/** The model toolkit: GGUF codec, format detection, inspection, conversion, generated models. */
export { ModelFormatError, type ModelFormatErrorCode } from "./errors.js";
export * from "./gguf/index.js";
export { detectFormat, type DetectedFormat, type ModelFormat } from "./formats/detect.js";
