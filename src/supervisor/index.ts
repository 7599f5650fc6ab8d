export {
  ModelHost,
  type GenerationStream,
  type HostObserver,
  type ModelStatus,
  type SchedulerSettings,
  type ServedModel,
  type StreamEvent,
} from "./model-host.js";
export {
  ReplicaManager,
  type ReplacementCheck,
  type ReplicaStatus,
  type SupervisionSettings,
} from "./replica-manager.js";
export { backoffDelayMs, watchdogVerdict } from "./health-policy.js";
