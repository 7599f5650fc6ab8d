export {
  errorCatalog,
  isErrorCode,
  type ErrorCode,
  type ErrorSpec,
  type ErrorType,
} from "./catalog.js";
export { BulwarkError, type BulwarkErrorOptions, type OpenAIErrorBody } from "./bulwark-error.js";
export { toClientError } from "./to-client-error.js";
export { parseInput } from "./parse-input.js";
