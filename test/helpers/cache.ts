/** The response cache's gateway settings the cache tests build their gateways with. */
import type { GatewayCache } from "../../src/gateway/index.js";

/** 1 MiB in memory, entries up to 256 KiB, an hour's TTL, the Redis tier on, greedy only. */
export const cacheTestSettings: Readonly<GatewayCache["settings"]> = Object.freeze({
  enabled: true,
  maxBytes: 1 << 20,
  maxEntryBytes: 1 << 18,
  ttlMs: 3_600_000,
  maxTtlMs: 86_400_000,
  redis: true,
  sampled: false,
  semanticMinThreshold: 0.9,
  semanticMaxEntries: 100,
  countHitTokens: false,
});
