export { AlertManager, type AlertManagerOptions } from "./alert-manager.js";
export { KpiRecorder, kpiRules, type KpiThresholds } from "./kpi.js";
export { SlidingWindow, quantile, mean, percentWhere } from "./window.js";
export { WebhookSink, LogSink, type WebhookOptions } from "./webhook-sink.js";
export { toAlertmanager, type AlertmanagerAlert } from "./alertmanager.js";
export type { AlertEvent, AlertRule, AlertSink, AlertStatus, AlertStateName } from "./types.js";
