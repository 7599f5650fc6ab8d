export { BatchLedger, type BatchRow, type FileRow, type LineRow } from "./ledger.js";
export { FileStore } from "./file-store.js";
export { plainLines, sealedLines, type LineCodec } from "./line-codec.js";
export { resealBatchFiles, type FileResealCounts } from "./reseal-files.js";
export { FileService, type Caller, type FileSettings, type UploadPart } from "./file-service.js";
export { BatchService, COMPLETION_WINDOW_S, type BatchSettings } from "./batch-service.js";
export {
  BATCH_ENDPOINTS,
  InputFileChecker,
  isBatchEndpoint,
  type BatchEndpoint,
  type BodyParser,
  type LineCheckSettings,
} from "./line-check.js";
export { pageQuery, toPage, type Page, type PageQuery } from "./paging.js";
export {
  canMoveBatch,
  canMoveLine,
  UNFINISHED,
  type BatchStatus,
  type LineStatus,
} from "./states.js";
export {
  BatchRunner,
  type LineExecutor,
  type LineRequest,
  type LineResponse,
  type RunnerObserver,
} from "./runner.js";
export { ResultFiles } from "./result-files.js";
export {
  BATCH_LINE_HEADER,
  BatchLineIdentity,
  batchLineHook,
  installBatchLine,
  type BatchLineHookOptions,
} from "./line-identity.js";
export { InjectExecutor, type Injector } from "./inject-executor.js";
export { registerBatchAdminRoutes, type BatchAdminDeps } from "./admin-routes.js";
export { fileObject, batchObject, type FileObject, type BatchObject } from "./render.js";
