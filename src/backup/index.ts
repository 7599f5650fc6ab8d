export {
  createBackup,
  bulwarkVersion,
  configFileInUse,
  STATE_FOLDERS,
  type CreateOptions,
  type CreateResult,
} from "./create.js";
export {
  listBackups,
  pruneBackups,
  readManifest,
  verifyBackup,
  type BackupListing,
  type BackupSummary,
  type PruneReport,
  type VerifyReport,
} from "./catalog.js";
export { restoreBackup, type RestoreOptions, type RestoreResult } from "./restore.js";
export { loadDataKey, requireDataKey, type DataKey } from "./data-key.js";
export { BackupService, backupDir, type BackupServiceOptions } from "./service.js";
export { registerBackupAdminRoutes, type BackupAdminDeps } from "./admin-routes.js";
export type { BackupManifest, BackupFile, BackupModel } from "./layout.js";
