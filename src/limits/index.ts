export { gcra, type GcraParams, type GcraResult } from "./gcra.js";
export {
  reserve,
  refund,
  formatReset,
  type BucketParams,
  type BucketState,
  type ReserveResult,
} from "./token-bucket.js";
export {
  MemoryLimitStore,
  type CounterRequest,
  type LimitStore,
  type PlaceRequest,
} from "./limit-store.js";
export {
  RateLimiter,
  type KeyLimitsView,
  type RateLimiterOptions,
  type RequestAdmission,
  type TokenReservation,
} from "./rate-limiter.js";
export { rateLimitHook, installRateLimit, type RateLimitHookOptions } from "./hook.js";
export { FailoverLimitStore, type FailoverOptions, type OnStateDown } from "./failover-store.js";
