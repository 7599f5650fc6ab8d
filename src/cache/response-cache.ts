/**
 * The exact response cache's process tier (L1): an LRU bounded by bytes (lru-cache), entries
 * with a time to live, and single-flight for identical misses running at once. Entries carry
 * their tenant and served model so that an operator can clear by namespace or by model.
 */
import { LRUCache } from "lru-cache";
import type { ResponseCacheObserver } from "../observability/index.js";

export type { ResponseCacheObserver };

/** A completed generation, as the engine produced it (before any per-request output filter). */
export interface GenerationValue {
  kind: "generation";
  /** The text pieces as they were streamed, replayed in the same pieces. */
  pieces: string[];
  finishReason: "stop" | "length";
  promptTokens: number;
  completionTokens: number;
}

/** The vectors of an embeddings request, one per input. */
export interface EmbeddingsValue {
  kind: "embeddings";
  vectors: number[][];
  promptTokens: number;
}

export type CachedValue = GenerationValue | EmbeddingsValue;

interface Stored {
  value: CachedValue;
  /** The served model's name, for clearing by model. */
  model: string;
  /** The tenant id ("key:…", "ns:…", "public"), for clearing by namespace. */
  tenant: string;
  bytes: number;
}

export interface ResponseCacheOptions {
  /** Most bytes all entries may hold together. */
  maxBytes: number;
  /** Largest single entry, in bytes; a bigger answer is not stored. */
  maxEntryBytes: number;
  observer?: ResponseCacheObserver;
  /** Injected clock for the TTLs (tests). */
  now?: () => number;
}

/** Which entries a clear removes: all, one served model's, one tenant's. */
export interface ClearFilter {
  model?: string;
  tenant?: string;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  inFlight: number;
}

/** Bytes an entry takes, counted as its JSON text plus a fixed overhead per entry. */
function sizeOf(value: CachedValue, key: string): number {
  const body =
    value.kind === "generation"
      ? value.pieces.reduce((n, p) => n + p.length * 2 + 16, 0)
      : value.vectors.reduce((n, v) => n + v.length * 8 + 16, 0);
  return body + key.length * 2 + 256;
}

export class ResponseCache {
  private readonly lru: LRUCache<string, Stored>;
  private readonly flights = new Map<string, Promise<CachedValue | undefined>>();
  private clearing = false;

  constructor(private readonly options: ResponseCacheOptions) {
    const now = options.now;
    this.lru = new LRUCache<string, Stored>({
      maxSize: options.maxBytes,
      maxEntrySize: options.maxEntryBytes,
      sizeCalculation: (s) => s.bytes,
      ttlAutopurge: false,
      // Read the clock at each check (the default caches it for 1 ms behind a timer).
      ttlResolution: 0,
      allowStale: false,
      ...(now ? { perf: { now } } : {}),
      dispose: (_value, _key, reason) => {
        if (this.clearing) return;
        if (reason === "evict") this.options.observer?.evicted("size");
        else if (reason === "expire") this.options.observer?.evicted("expired");
      },
    });
  }

  /** The stored value, or undefined (expired entries are gone). */
  get(key: string): CachedValue | undefined {
    const stored = this.lru.get(key);
    this.options.observer?.lookup("exact", stored !== undefined);
    return stored?.value;
  }

  /** The stored value, without counting a lookup (the semantic cache's answers). */
  find(key: string): CachedValue | undefined {
    return this.lru.get(key)?.value;
  }

  /** Counts an exact lookup made with `find` (through the shared tier too). */
  exactLookup(hit: boolean): void {
    this.options.observer?.lookup("exact", hit);
  }

  /** Counts a semantic lookup (its index lives beside this tier). */
  semanticLookup(hit: boolean): void {
    this.options.observer?.lookup("semantic", hit);
  }

  /** Stores a value for `ttlMs`; false when it is larger than one entry may be. */
  set(key: string, value: CachedValue, meta: { model: string; tenant: string; ttlMs: number }) {
    const bytes = sizeOf(value, key);
    if (bytes > this.options.maxEntryBytes || bytes > this.options.maxBytes) return false;
    this.lru.set(
      key,
      { value, model: meta.model, tenant: meta.tenant, bytes },
      { ttl: meta.ttlMs },
    );
    this.options.observer?.stored();
    this.options.observer?.bytes(this.lru.calculatedSize);
    return true;
  }

  /**
   * Single-flight: when an identical request is already generating, its result (undefined if
   * it did not complete); otherwise undefined at once and this caller becomes the one that
   * generates, and must call the returned `finish` exactly once.
   */
  join(key: string): Promise<CachedValue | undefined> | undefined {
    return this.flights.get(key);
  }

  /** Marks `key` as generating; `finish(value)` ends the flight for every waiter. */
  lead(key: string): (value: CachedValue | undefined) => void {
    let resolve!: (value: CachedValue | undefined) => void;
    const flight = new Promise<CachedValue | undefined>((r) => (resolve = r));
    this.flights.set(key, flight);
    let done = false;
    return (value) => {
      if (done) return;
      done = true;
      if (this.flights.get(key) === flight) this.flights.delete(key);
      resolve(value);
    };
  }

  /** Removes the matching entries; returns how many. */
  clear(filter: ClearFilter = {}): number {
    let removed = 0;
    this.clearing = true;
    try {
      if (filter.model === undefined && filter.tenant === undefined) {
        removed = this.lru.size;
        this.lru.clear();
      } else {
        for (const [key, stored] of this.lru.entries()) {
          if (filter.model !== undefined && stored.model !== filter.model) continue;
          if (filter.tenant !== undefined && stored.tenant !== filter.tenant) continue;
          this.lru.delete(key);
          removed++;
        }
      }
    } finally {
      this.clearing = false;
    }
    this.options.observer?.bytes(this.lru.calculatedSize);
    return removed;
  }

  stats(): CacheStats {
    this.lru.purgeStale();
    return {
      entries: this.lru.size,
      bytes: this.lru.calculatedSize,
      maxBytes: this.options.maxBytes,
      inFlight: this.flights.size,
    };
  }
}
