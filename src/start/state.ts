/**
 * Start step: where the state that limits requests lives (state.backend). memory: this
 * process's own stores, as on a laptop. redis: one connection to the fleet's Redis, the limit
 * store behind the failure policy (state.onRedisDown), the shared offence counters, the
 * change feed that brings the keys and bans changed on other instances into this one's SQLite,
 * and the fleet's usage (each home's rows mirrored in Redis, reports summed over the homes).
 */
import type { Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import { FailoverLimitStore, MemoryLimitStore, type LimitStore } from "../limits/index.js";
import type { OffenceStore } from "../netfilter/index.js";
import type { ReplicatedKey } from "../auth/index.js";
import { banDropAfter, type ReplicatedBan } from "../netfilter/index.js";
import type { Stores } from "../admin/index.js";
import {
  FleetUsage,
  RecordFeed,
  RedisConnection,
  RedisLimitStore,
  RedisOffenceStore,
} from "../store/redis/index.js";
import type { ResourceStack } from "./resources.js";

export interface StateBackend {
  kind: "memory" | "redis";
  /** The limit store the rate limiter uses. */
  limits: LimitStore;
  /** Shared offence counters; undefined: the netfilter counts alone. */
  offences: OffenceStore | undefined;
  /** The fleet's Redis connection (the response cache's shared tier uses it); memory: none. */
  redis: RedisConnection | undefined;
  /** Whether the state can be reached now (memory: always). */
  up(): boolean;
  /** True while limited requests are refused because the shared state is down. */
  failingClosed(): boolean;
  /**
   * Sends the keys and bans changed here to the fleet and applies theirs here; sends this home's
   * usage rows and makes `stores.usageReader` read the fleet's.
   */
  replicate(stores: Stores): void;
  /**
   * Resolves once the change feed listens (so that an instance that serves misses no change),
   * or after state.connectTimeoutMs with Redis down: the start does not wait on it longer.
   */
  settled(): Promise<void>;
}

export interface StateStepOptions {
  logger: Logger;
  instance: string;
  /** Seeds a daily budget's counter with what the usage table already counted today. */
  baseline: (key: string) => number;
  /** Told about each decision taken while the shared state was down. */
  onFallback: (op: string, policy: string) => void;
}

export function openState(
  config: Readonly<Config>,
  o: StateStepOptions,
  resources: ResourceStack,
): StateBackend {
  const local = new MemoryLimitStore(o.baseline);
  const s = config.state;
  if (s.backend === "memory") {
    resources.push("limit store", () => local.close());
    return {
      kind: "memory",
      redis: undefined,
      limits: local,
      offences: undefined,
      up: () => true,
      failingClosed: () => false,
      replicate: () => undefined,
      settled: async () => undefined,
    };
  }
  const log = o.logger.child({ component: "state" });
  const redis = new RedisConnection({
    url: s.redisUrl,
    keyPrefix: s.keyPrefix,
    commandTimeoutMs: s.commandTimeoutMs,
    connectTimeoutMs: s.connectTimeoutMs,
    breakerFailures: s.breakerFailures,
    breakerCooldownMs: s.breakerCooldownMs,
    onChange: (up, reason) => {
      if (up) log.info({ backend: "redis" }, "state backend up");
      else log.warn({ backend: "redis", reason, policy: s.onRedisDown }, "state backend down");
    },
  });
  resources.push("redis connection", () => redis.close());
  // Fallback decisions are logged at most once per second, with their count.
  let unlogged = 0;
  let loggedAt = 0;
  const limits = new FailoverLimitStore(new RedisLimitStore(redis, o.baseline), local, {
    policy: s.onRedisDown,
    retryInMs: () => redis.retryInMs(),
    onFallback: (op, err) => {
      o.onFallback(op, s.onRedisDown);
      unlogged++;
      const now = Date.now();
      if (now - loggedAt < 1_000) return;
      log.warn(
        { op, decisions: unlogged, policy: s.onRedisDown, err: (err as Error).message },
        s.onRedisDown === "open"
          ? "state backend unavailable: admitted by this instance's own limits"
          : "state backend unavailable: refused with state_unavailable",
      );
      unlogged = 0;
      loggedAt = now;
    },
  });
  resources.push("limit store", () => limits.close());
  let feed: RecordFeed | undefined;
  let subscribed: Promise<void> = Promise.resolve();
  return {
    kind: "redis",
    redis,
    limits,
    offences: new RedisOffenceStore(redis, config.security.autoBan),
    up: () => redis.up(),
    failingClosed: () => s.onRedisDown === "closed" && !redis.up(),
    replicate(stores) {
      feed = new RecordFeed(redis, {
        instance: o.instance,
        syncIntervalMs: s.syncIntervalMs,
        apply: (kind, id, data) => {
          if (kind === "key") stores.keys.applyReplica(data as ReplicatedKey);
          else stores.bans.applyReplica(data as ReplicatedBan);
          log.info({ kind, id }, "applied a change made on another instance");
        },
      });
      const sendKey = (id: string) => feed!.put("key", id, stores.keys.replica(id));
      const sendBan = (ip: string) => {
        const ban = stores.bans.replica(ip);
        feed!.put("ban", ip, ban, banDropAfter(ban));
      };
      stores.keys.onChange = sendKey;
      stores.bans.onChange = sendBan;
      subscribed = feed.start();
      const running = feed;
      resources.push("state change feed", () => running.close());
      let usageLoggedAt = 0;
      const usage = new FleetUsage(redis, stores.usage, {
        flushIntervalMs: s.syncIntervalMs,
        onError: (op, err) => {
          // Once a minute at most: a Redis that is down fails every try.
          if (Date.now() - usageLoggedAt < 60_000) return;
          usageLoggedAt = Date.now();
          log.warn({ op, err: (err as Error).message }, "fleet usage: Redis unavailable");
        },
      });
      stores.usageReader = usage;
      usage.start();
      resources.push("fleet usage", () => usage.close());
    },
    settled: () =>
      Promise.race([
        subscribed,
        new Promise<void>((r) => setTimeout(r, s.connectTimeoutMs).unref()),
      ]),
  };
}
