export { RotatingFile, type RotationOptions } from "./rotating-file.js";
export { AccessLog, type AccessRecord } from "./access-log.js";
export { AuditLog, type AuditEntry, type VerifyResult } from "./audit-log.js";
export {
  UsageStore,
  utcDay,
  type UsageRow,
  type UsageQuery,
  type KeyUsageTotals,
  type UsagePageQuery,
  type MinuteRow,
  type RecordedUsage,
} from "./usage-store.js";
export { LocalUsageReader, type UsageReader, type UsageScope } from "./usage-reader.js";
export { summarize, parseUsageQuery, type KeyUsage } from "./usage-report.js";
export { accessLogHook, installAccessLog, type AccessLogHookOptions } from "./hook.js";
export { registerUsageRoute } from "./usage-route.js";
