export {
  FIELD_RULES,
  canonicalJson,
  canonicalRequest,
  cacheKey,
  isDetermined,
  type CacheEndpoint,
  type FieldRule,
  type KeyParts,
  type Tenant,
} from "./key.js";
export {
  CACHE_HEADER,
  keyCacheModes,
  requestCachePolicy,
  type KeyCacheMode,
  type RequestCachePolicy,
} from "./request-policy.js";
export {
  ResponseCache,
  type CachedValue,
  type CacheStats,
  type ClearFilter,
  type EmbeddingsValue,
  type GenerationValue,
  type ResponseCacheObserver,
  type ResponseCacheOptions,
} from "./response-cache.js";
export {
  DEFAULT_KEY_CACHE,
  KeyCacheStore,
  keyCacheSchema,
  type KeyCacheSettings,
  type SemanticSettings,
} from "./key-settings.js";
export { tenantOf, namespaceTenant } from "./tenant.js";
export { ServedModelDigests, type DigestSource, type ModelDigests } from "./model-digests.js";
export { registerCacheAdminRoutes, type CacheAdminDeps } from "./admin-routes.js";
export { SemanticIndex, SemanticIndexes, unitVector } from "./semantic-index.js";
export { RedisCacheTier, type CacheRedisPort, type RedisTierOptions } from "./redis-tier.js";
export {
  cacheTierCollection,
  cacheTierCheckpoint,
  startBackgroundReseal,
  type BackgroundResealOptions,
} from "./tier-reseal.js";
