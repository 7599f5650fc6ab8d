export {
  Registry,
  type ImportOptions,
  type ListedVersion,
  type RegistryAlert,
  type RegistryOptions,
  type ResolvedModel,
  type VerifyResult,
} from "./registry.js";
export { openRegistry, registryDir } from "./from-config.js";
export { backupTo, restoreFrom, parseSums, SUMS_FILE, type RestoreReport } from "./backup-dir.js";
export {
  pullModel,
  hubAuthHeaders,
  resolveSource,
  downloadResumable,
  nameFromFile,
  type PullOptions,
} from "./pull.js";
export { sha256File, fingerprintFile, MiB } from "./hashing.js";
export { looksLikeRef, parseRef, formatRef, LATEST } from "./names.js";
export {
  ggufInspector,
  toolkitInspector,
  InvalidModelError,
  type ModelInspector,
  type ModelFacts,
} from "./inspect.js";
export { estimateModel, assertModelFits, type ModelLoad } from "./memory-check.js";
export type { Manifest } from "./manifest.js";
export {
  RegistryServing,
  REGISTRY_PREFIX,
  SwappableModel,
  openRegistryServing,
  type RegistryServingOptions,
  type SwappableHost,
} from "./serving/index.js";
export { registerRegistryAdminRoutes, type RegistryAdminDeps } from "./admin/routes.js";
