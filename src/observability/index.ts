export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logger.js";
export { Metrics, type MetricsState } from "./metrics.js";
export type {
  BackupObserver,
  GatewayObserver,
  GuardObserver,
  ModelObserver,
  RequestObservation,
  ResponseCacheObserver,
} from "./observers.js";
export { Telemetry, type TelemetryOptions, type KpiValues } from "./telemetry.js";
export { registerAlertAdminRoutes } from "./admin-routes.js";
export type { KpiThresholds } from "./alerts/index.js";
