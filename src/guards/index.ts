export {
  PressureLevels,
  levelRank,
  type PressureLevel,
  type LevelChange,
  type Thresholds,
} from "./levels.js";
export { DegradationLadder, type Degradation, type LadderSettings } from "./ladder.js";
export type {
  MemoryReading,
  MemorySource,
  ProcessProbe,
  ProcessReading,
  ProcessRef,
  ProcessSample,
  ResourceSample,
} from "./readings.js";
export { SystemMemorySource, ProcProbe, BudgetMemorySource } from "./proc-sources.js";
export { ResourceMonitor, type MonitorOptions } from "./monitor.js";
export {
  MemoryGuard,
  type GuardOptions,
  type ReclaimTarget,
  type ShedDecision,
} from "./memory-guard.js";
export {
  GgufMemoryEstimator,
  ToolkitMemoryEstimator,
  kvCacheBytes,
  processOverheadBytes,
  type MemoryEstimate,
  type MemoryEstimator,
  type LoadSpec,
} from "./estimator.js";
export { LoadAdmission, checkLoad, type AdmissionDeps } from "./admission.js";
export { registerGuardAdminRoutes, type GuardAdminDeps } from "./admin-routes.js";
export {
  GuardRuntime,
  guardGauges,
  type GuardGauges,
  type GuardRuntimeOptions,
} from "./runtime.js";
