export { ModelHost, type HostObserver, type SchedulerSettings } from "./model-host.js";
export {
  ReplicaManager,
  type ReplacementCheck,
  type SupervisionSettings,
} from "./replica-manager.js";
export { backoffDelayMs, watchdogVerdict } from "./health-policy.js";
