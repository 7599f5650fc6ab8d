/**
 * The response cache's Redis tier as a collection of sealed values for src/crypto's resealAll:
 * SCAN over its entries, and a compare-and-set that reseals an entry only if it is still the
 * value that was read (a gateway may have stored a new answer meanwhile), keeping its expiry.
 * The walk's checkpoint lives in Redis too, so that any host (the CLI, a gateway) resumes it.
 */
import {
  resealAll,
  type Keyring,
  type ResealCheckpoint,
  type ResealState,
  type SealedCollection,
} from "../crypto/index.js";
import { CACHE_ENTRY, type CacheRedisPort } from "./redis-tier.js";

/** KEYS[1] entry; ARGV old, new: replaces the value only when it is still `old`. */
const SWAP = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0`;

export function cacheTierCollection(redis: CacheRedisPort): SealedCollection {
  const prefix = redis.key("");
  return {
    async scan(cursor, count) {
      const [next, names] = await redis.run((c) =>
        c.scan(cursor, "MATCH", redis.key(`${CACHE_ENTRY}*`), "COUNT", count),
      );
      if (names.length === 0) return { next, items: [] };
      const values = await redis.run((c) => c.mgetBuffer(...names));
      const items = names.flatMap((id, i) => {
        const value = values[i];
        // The aad is the entry's name without the instance's prefix (as the tier seals it).
        return value ? [{ id, value, aad: id.slice(prefix.length) }] : [];
      });
      return { next, items };
    },
    async replace(id, old, next) {
      return Number(await redis.run((c) => c.eval(SWAP, 1, id, old, next))) === 1;
    },
  };
}

/** The walk's state by target key id, in one Redis hash. */
export function cacheTierCheckpoint(redis: CacheRedisPort): ResealCheckpoint {
  const name = redis.key("reseal:rcache");
  return {
    async load(keyId) {
      const raw = await redis.run((c) => c.hget(name, keyId));
      return raw ? (JSON.parse(raw) as ResealState) : undefined;
    },
    async save(state) {
      await redis.run((c) => c.hset(name, state.keyId, JSON.stringify(state)));
    },
  };
}

export interface BackgroundResealOptions {
  /** This instance's id: the holder of the walk's lock. */
  instance: string;
  log: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
  };
  /** Values per batch (default 100) and the pause between batches in ms (default 100). */
  batch?: number;
  pauseMs?: number;
  /** How long to wait before trying again after a failure (default 5 s) or while another
   * instance holds the lock (default 60 s). */
  retryMs?: number;
  lockRetryMs?: number;
}

const LOCK_MS = 30_000;

/**
 * Reseals the tier in the background after a rotation (the keyring holds previous keys): one
 * gateway of the fleet at a time (a lock in Redis, renewed at each batch), in small batches with
 * a pause between them, resuming the shared checkpoint; it ends once the walk is done.
 */
export function startBackgroundReseal(
  redis: CacheRedisPort,
  ring: Keyring,
  o: BackgroundResealOptions,
): { close(): Promise<void> } {
  const lock = redis.key("reseal:rcache:lock");
  const checkpoint = cacheTierCheckpoint(redis);
  let closed = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const run = async () => {
    while (!closed) {
      // Quietly until the connection is up (at start, it may still be connecting).
      if (redis.up && !redis.up()) {
        await sleep(1_000);
        continue;
      }
      try {
        if ((await checkpoint.load(ring.current.id))?.done) return;
        const got = await redis.run((c) => c.set(lock, o.instance, "PX", LOCK_MS, "NX"));
        if (got !== "OK") {
          await sleep(o.lockRetryMs ?? 60_000);
          continue;
        }
        let batches = 0;
        const state = await resealAll(cacheTierCollection(redis), ring, {
          batch: o.batch ?? 100,
          pauseMs: o.pauseMs ?? 100,
          checkpoint,
          stopped: () => closed,
          onProgress: (p) => {
            void redis.run((c) => c.pexpire(lock, LOCK_MS)).catch(() => undefined);
            if (++batches % 50 === 0) o.log.info({ ...p }, "data key reseal: in progress");
          },
        });
        await redis.run((c) => c.del(lock)).catch(() => undefined);
        if (state.done) {
          o.log.info({ ...state }, "data key reseal: done; the previous keys are no longer needed");
          return;
        }
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, "data key reseal: paused (Redis)");
        await sleep(o.retryMs ?? 5_000);
      }
    }
  };
  const running = run();
  return {
    async close() {
      closed = true;
      wake?.();
      await running;
    },
  };
}
