export {
  errorCatalog,
  isErrorCode,
  type ErrorCode,
  type ErrorSpec,
  type ErrorType,
} from "./catalog.js";
export {
  BulwarkError,
  asBulwarkError,
  type BulwarkErrorOptions,
  type OpenAIErrorBody,
} from "./bulwark-error.js";
