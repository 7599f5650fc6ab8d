/**
 * Start step: the response cache. Builds the in-process tier with its metrics, the digests of
 * the served models (a registry model's manifest sha256, a plain file's sha256 computed in the
 * background), the keys' cache settings in the store, and the cache's admin routes.
 */
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/index.js";
import type { Logger, ResponseCacheObserver } from "../observability/index.js";
import type { Db } from "../store/index.js";
import type { GatewayCache } from "../gateway/index.js";
import type { Keyring } from "../crypto/index.js";
import type { RegistryServing } from "../registry/index.js";
import {
  KeyCacheStore,
  ResponseCache,
  SemanticIndexes,
  RedisCacheTier,
  startBackgroundReseal,
  type CacheRedisPort,
  ServedModelDigests,
  registerCacheAdminRoutes,
  type DigestSource,
} from "../cache/index.js";

export interface CacheStepOptions {
  logger: Logger;
  db: Db;
  observer: ResponseCacheObserver;
  /** The served models' names and files (registry paths resolved), read at each use. */
  /**
   * The served models: a GGUF path, or for a model served only by remote backends, an identity
   * that stands for its content digest (see backendsIdentity).
   */
  models: () => readonly { name: string; path: string | undefined; identity?: string }[];
  serving: () => RegistryServing | undefined;
  keyExists(id: string): boolean;
  /** The fleet's Redis connection with state.backend redis: the shared tier's home. */
  redis: CacheRedisPort | undefined;
  /** The data keys: with one, the shared tier seals what it stores. */
  keyring?: Keyring;
  /** This instance's id (the holder of the background reseal's lock). */
  instance: string;
}

export interface CacheStep {
  /** The gateway's part; undefined with cache.enabled off. */
  gateway: GatewayCache | undefined;
  /** Empties the process tier (memory reclaim); returns the entries removed. */
  clear(): number;
  /** Starts hashing the served models' files (once the models are known), and the reseal of
   * the shared tier after a data key rotation. */
  start(): void;
  /** Stops the background work. */
  close(): Promise<void>;
  /** Drops a registry model's entries when its file was found damaged or was restored. */
  dropRegistryModel(registryName: string): void;
  registerAdminRoutes(app: FastifyInstance): void;
}

export function buildCache(config: Readonly<Config>, o: CacheStepOptions): CacheStep {
  const keys = new KeyCacheStore(o.db);
  const settings = config.cache;
  const cache = settings.enabled
    ? new ResponseCache({
        maxBytes: settings.maxBytes,
        maxEntryBytes: settings.maxEntryBytes,
        observer: o.observer,
      })
    : undefined;
  const semantic = cache ? new SemanticIndexes(settings.semanticMaxEntries) : undefined;
  const log = o.logger.child({ component: "cache" });
  // Failures are logged at most once a minute: a Redis that is down fails every call.
  let loggedAt = 0;
  const shared =
    cache && settings.redis && o.redis
      ? new RedisCacheTier(o.redis, {
          timeoutMs: config.state.commandTimeoutMs,
          keyring: o.keyring,
          onError: (op, err) => {
            o.observer.sharedError?.(op);
            if (Date.now() - loggedAt < 60_000) return;
            loggedAt = Date.now();
            log.warn({ op, err: err.message }, "response cache: the shared tier failed; a miss");
          },
        })
      : undefined;
  let reseal: { close(): Promise<void> } | undefined;
  const manifests = new Map<string, string>();
  const source = (model: string): DigestSource | undefined => {
    const serving = o.serving();
    const served = serving?.served().find((s) => s.servedName === model);
    if (served && serving) {
      return {
        kind: "registry",
        sha256: () => {
          const ref = `${served.name}:${served.version}`;
          let sha = manifests.get(ref);
          if (sha === undefined) {
            sha = serving.registry.resolve(ref).manifest.sha256;
            manifests.set(ref, sha);
          }
          return sha;
        },
      };
    }
    const entry = o.models().find((m) => m.name === model);
    if (entry?.identity !== undefined) {
      const identity = entry.identity;
      return { kind: "registry", sha256: () => identity };
    }
    return entry?.path === undefined ? undefined : { kind: "file", path: entry.path };
  };
  const digests = new ServedModelDigests(source, (model, err) =>
    log.warn(
      { model, err: err.message },
      "cannot hash the model file; its requests bypass the cache",
    ),
  );
  return {
    gateway: cache ? { cache, digests, keys, semantic, shared, settings } : undefined,
    clear: () => {
      semantic?.clear();
      return cache?.clear() ?? 0;
    },
    start: () => {
      if (cache) for (const m of o.models()) digests.digest(m.name);
      // After a rotation the previous keys still open what they sealed; moving the tier to
      // the current key lets them go.
      if (shared && o.redis && o.keyring && o.keyring.previousIds().length > 0) {
        const link = o.redis.background?.() ?? o.redis;
        reseal = startBackgroundReseal(link, o.keyring, { instance: o.instance, log });
      }
    },
    close: async () => {
      await reseal?.close();
    },
    dropRegistryModel: (registryName) => {
      for (const s of o.serving()?.served() ?? []) {
        if (s.name === registryName) cache?.clear({ model: s.servedName });
      }
    },
    registerAdminRoutes: (app) =>
      registerCacheAdminRoutes(app, {
        cache,
        semantic,
        shared,
        digestOf: (model) => digests.digest(model),
        keys,
        keyExists: o.keyExists,
      }),
  };
}
