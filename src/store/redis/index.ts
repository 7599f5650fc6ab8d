export { CircuitBreaker, type BreakerOptions, type BreakerState } from "./circuit-breaker.js";
export {
  RedisConnection,
  StateDownError,
  type BackgroundRedis,
  redisClientOptions,
  type RedisConnectionOptions,
} from "./connection.js";
export { RedisLimitStore } from "./redis-limit-store.js";
export { RedisOffenceStore } from "./redis-offences.js";
export { RecordFeed, type RecordKind, type RecordFeedOptions } from "./record-feed.js";
export { SCRIPTS, type ScriptName } from "./lua.js";
export { FleetUsage, type FleetUsageOptions } from "./fleet-usage.js";
