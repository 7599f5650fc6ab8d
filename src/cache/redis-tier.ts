/**
 * The response cache's shared tier (L2) on the fleet's Redis: every gateway reads what any of
 * them stored. Values are JSON compressed with raw DEFLATE, with Redis's own expiry (PX) as
 * their TTL. A Redis that fails or is slow never fails a request: every call is bounded by the
 * state timeout and any failure is a miss (or a store that did not happen).
 *
 * With a data key (src/crypto), each value is sealed (AES-256-GCM) after compression, bound to
 * its entry's key, so that prompts and answers are not in clear in Redis, its dumps or its
 * replicas. With a key, a value not sealed is a miss; without one, a sealed value is.
 */
import { promisify } from "node:util";
import { deflateRaw, inflateRaw } from "node:zlib";
import type { Redis } from "ioredis";
import { isSealed, type Keyring } from "../crypto/index.js";
import type { CachedValue } from "./response-cache.js";

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** What the tier needs of the fleet's Redis connection (src/store/redis has it). */
export interface CacheRedisPort {
  /** Runs a command unless the connection's circuit is open; throws on failure. */
  run<T>(fn: (client: Redis) => Promise<T>): Promise<T>;
  /** The instance's key prefix applied to `name`. */
  key(name: string): string;
  /** Whether calls reach Redis now (connected, circuit closed); absent: assumed. */
  up?(): boolean;
  /** A link for background work whose failures do not count against requests (a reseal). */
  background?(): CacheRedisPort;
}

export interface RedisTierOptions {
  /** Longest a cache call may take before it counts as a miss, in ms (state.commandTimeoutMs). */
  timeoutMs: number;
  /** Told about each failed or timed-out call (logs, metrics). */
  onError?(op: string, err: Error): void;
  /** Seals every value with the data key; undefined: values are stored compressed only. */
  keyring?: Keyring;
}

/** The Redis key of an entry; its tenant and digest stay readable for clearing by pattern. */
export const CACHE_ENTRY = "rcache:";
const ENTRY = CACHE_ENTRY;

function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function valid(value: unknown): value is CachedValue {
  const v = value as CachedValue | undefined;
  if (!v || typeof v !== "object") return false;
  if (v.kind === "generation") return Array.isArray(v.pieces) && typeof v.promptTokens === "number";
  if (v.kind === "embeddings")
    return Array.isArray(v.vectors) && typeof v.promptTokens === "number";
  return false;
}

export class RedisCacheTier {
  constructor(
    private readonly redis: CacheRedisPort,
    private readonly options: RedisTierOptions,
  ) {}

  private fail(op: string, err: unknown): undefined {
    this.options.onError?.(op, err as Error);
    return undefined;
  }

  /**
   * The stored value with the ms it has left to live, or undefined: absent, unreadable, or
   * Redis unavailable.
   */
  async get(key: string): Promise<{ value: CachedValue; ttlMs: number } | undefined> {
    const name = this.redis.key(ENTRY + key);
    try {
      const replies = await bounded(
        this.redis.run((c) => c.pipeline().getBuffer(name).pttl(name).exec()),
        this.options.timeoutMs,
      );
      const [[getErr, raw], [ttlErr, ttl]] = (replies ?? [
        [null, null],
        [null, -2],
      ]) as [[Error | null, Buffer | null], [Error | null, number]];
      if (getErr || ttlErr) throw getErr ?? ttlErr;
      if (!raw || !(ttl > 0)) return undefined;
      const packed = this.unseal(key, raw);
      if (!packed) return undefined;
      const value: unknown = JSON.parse((await inflate(packed)).toString("utf8"));
      return valid(value) ? { value, ttlMs: ttl } : undefined;
    } catch (err) {
      return this.fail("get", err);
    }
  }

  /** Stores a value for `ttlMs`; resolves false when Redis could not take it. */
  async set(key: string, value: CachedValue, ttlMs: number): Promise<boolean> {
    try {
      const packed = this.seal(key, await deflate(Buffer.from(JSON.stringify(value), "utf8")));
      await bounded(
        this.redis.run((c) => c.set(this.redis.key(ENTRY + key), packed, "PX", ttlMs)),
        this.options.timeoutMs,
      );
      return true;
    } catch (err) {
      this.fail("set", err);
      return false;
    }
  }

  /** The stored form of a compressed value: sealed with the current data key when there is one. */
  private seal(key: string, packed: Buffer): Buffer {
    return this.options.keyring ? this.options.keyring.seal(packed, ENTRY + key) : packed;
  }

  /** The compressed value of a stored one, or undefined when it cannot be used here. */
  private unseal(key: string, raw: Buffer): Buffer | undefined {
    const ring = this.options.keyring;
    if (!ring) return isSealed(raw) ? undefined : raw;
    if (!isSealed(raw)) return undefined;
    // A value sealed with an unknown key or altered throws: the caller counts it as a failure.
    return ring.open(raw, ENTRY + key);
  }

  /**
   * Removes the entries of one tenant, of one model digest, or all (SCAN and UNLINK in
   * batches); resolves to how many, or undefined when Redis could not be reached.
   */
  async clear(filter: { tenant?: string; digest?: string } = {}): Promise<number | undefined> {
    const tenant = filter.tenant ?? "*";
    const digest = filter.digest ?? "*";
    const pattern = this.redis.key(`${ENTRY}${tenant}|${digest}|*`);
    let removed = 0;
    try {
      let cursor = "0";
      do {
        const [next, keys] = await bounded(
          this.redis.run((c) => c.scan(cursor, "MATCH", pattern, "COUNT", 500)),
          this.options.timeoutMs,
        );
        cursor = next;
        if (keys.length > 0) {
          removed += await bounded(
            this.redis.run((c) => c.unlink(...keys)),
            this.options.timeoutMs,
          );
        }
      } while (cursor !== "0");
      return removed;
    } catch (err) {
      return this.fail("clear", err);
    }
  }
}
