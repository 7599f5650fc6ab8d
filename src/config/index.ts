export {
  configSchema,
  modelEntrySchema,
  type Config,
  type ConfigInput,
  type ModelEntry,
  type BackendEntry,
  routingPolicies,
  type GpuSetting,
  type LadderEntry,
  type ReplicaRange,
  type AutoscaleSettings,
  chatWrapperNames,
} from "./schema.js";
export { loadConfig, ConfigError, type LoadConfigOptions } from "./load.js";
export { listConfigFields, type ConfigField } from "./fields.js";
export { renderConfigDocs } from "./docs.js";
export { invalidConfig, invalidField } from "./config-error.js";
export {
  checkBinding,
  checkModelsToServe,
  checkLadderModels,
  checkModelNames,
  planThreads,
  replicaRange,
  threadsPerWorker,
  type PlannedModel,
} from "./checks.js";
