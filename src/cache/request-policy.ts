/**
 * What one request asks of the response cache, from its `x-bulwark-cache` header, combined with
 * its key's cache mode. Pure.
 */
import { BulwarkError } from "../errors/index.js";

/** A key's cache mode: off (never read nor written), on, or read-only (hits, never stores). */
export const keyCacheModes = ["on", "off", "read-only"] as const;
export type KeyCacheMode = (typeof keyCacheModes)[number];

export interface RequestCachePolicy {
  /** Look the answer up. */
  lookup: boolean;
  /** Store the answer when it completes. */
  store: boolean;
  /** Lifetime of a stored entry, in ms (the header's ttl, capped by the configured most). */
  ttlMs: number;
}

export const CACHE_HEADER = "x-bulwark-cache";

/**
 * Parses `x-bulwark-cache`: a comma-separated list of `no-cache` (skip the lookup, still
 * store), `no-store` (never store) and `ttl=SECONDS`. Anything else is a 400 naming the header.
 */
export function requestCachePolicy(
  header: string | string[] | undefined,
  mode: KeyCacheMode,
  ttl: { defaultMs: number; maxMs: number },
): RequestCachePolicy {
  const policy: RequestCachePolicy = {
    lookup: mode !== "off",
    store: mode === "on",
    ttlMs: ttl.defaultMs,
  };
  const text = Array.isArray(header) ? header.join(",") : (header ?? "");
  for (const raw of text.split(",")) {
    const part = raw.trim().toLowerCase();
    if (part === "") continue;
    if (part === "no-cache") policy.lookup = false;
    else if (part === "no-store") policy.store = false;
    else if (/^ttl=\d{1,9}$/.test(part)) {
      const seconds = Number(part.slice(4));
      if (seconds === 0) policy.store = false;
      else policy.ttlMs = Math.min(seconds * 1000, ttl.maxMs);
    } else {
      throw new BulwarkError(
        "invalid_request",
        `Invalid ${CACHE_HEADER} header: '${raw.trim()}'; expected no-cache, no-store or ttl=SECONDS.`,
        { param: CACHE_HEADER },
      );
    }
  }
  return policy;
}
