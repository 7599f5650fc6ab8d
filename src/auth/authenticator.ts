/**
 * Turns the key a request carries into the key's record, or refuses it. The key's checksum is
 * checked before any lookup; the lookup is by id; the digest comparison is constant-time.
 */
import { BulwarkError } from "../errors/index.js";
import { CidrList } from "../netfilter/index.js";
import { digestKey, matchesDigest, parseKey } from "./key-format.js";
import { publicKey, type KeyRecord, type KeyStore } from "./key-store.js";

// Compared against when the id is unknown, so an unknown id costs the same work as a wrong secret.
const DUMMY = digestKey("bwk_000000000000_" + "0".repeat(36));
// last_used_at is written at most this often per key: one write per request would make every
// request a database write.
const TOUCH_EVERY_MS = 60_000;

/** The key a request presents: `Authorization: Bearer <key>` or `x-api-key: <key>`. */
export function presentedKey(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : auth.trim() || undefined;
  }
  const x = headers["x-api-key"];
  return typeof x === "string" && x.trim() ? x.trim() : undefined;
}

export class Authenticator {
  private readonly touched = new Map<string, number>();
  private readonly allowlists = new Map<string, CidrList>();

  constructor(
    private readonly keys: KeyStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** The key's record; throws missing_api_key, invalid_api_key, key_expired, key_revoked or permission_denied. */
  authenticate(raw: string | undefined, ip: string): KeyRecord {
    if (!raw) throw new BulwarkError("missing_api_key");
    const parsed = parseKey(raw);
    if (!parsed) throw new BulwarkError("invalid_api_key");
    const stored = this.keys.get(parsed.id);
    const now = this.now();
    if (!stored) {
      matchesDigest(parsed.full, DUMMY);
      throw new BulwarkError("invalid_api_key");
    }
    const current = matchesDigest(parsed.full, stored.digest);
    const previous =
      !current &&
      stored.previousDigest !== null &&
      matchesDigest(parsed.full, stored.previousDigest);
    if (!current && !previous) throw new BulwarkError("invalid_api_key");
    if (stored.revokedAt !== null && stored.revokedAt <= now) throw new BulwarkError("key_revoked");
    if (previous && (stored.previousValidUntil ?? 0) <= now) {
      throw new BulwarkError("key_revoked", "This key was rotated and its grace period has ended.");
    }
    return this.standing(stored, ip, now);
  }

  /**
   * The record of a key known by id, with no secret presented, if it may still be used from
   * `ip` (a batch line runs as the key that created its batch: revoked, expired or outside its
   * allowlist, it stops). Throws invalid_api_key, key_revoked, key_expired or permission_denied.
   */
  byId(id: string, ip: string): KeyRecord {
    const stored = this.keys.get(id);
    if (!stored) throw new BulwarkError("invalid_api_key");
    return this.standing(stored, ip, this.now());
  }

  private standing(
    stored: NonNullable<ReturnType<KeyStore["get"]>>,
    ip: string,
    now: number,
  ): KeyRecord {
    if (stored.revokedAt !== null && stored.revokedAt <= now) throw new BulwarkError("key_revoked");
    if (stored.expiresAt !== null && stored.expiresAt <= now) throw new BulwarkError("key_expired");
    if (stored.ips.length > 0 && !this.allowlist(stored.id, stored.ips).has(ip)) {
      throw new BulwarkError("permission_denied", "This key may not be used from this address.");
    }
    if (now - (this.touched.get(stored.id) ?? 0) >= TOUCH_EVERY_MS) {
      this.touched.set(stored.id, now);
      this.keys.touch(stored.id, now);
    }
    return publicKey(stored);
  }

  private allowlist(id: string, ips: string[]): CidrList {
    const cacheKey = `${id}|${ips.join(",")}`;
    let list = this.allowlists.get(cacheKey);
    if (!list) {
      list = new CidrList(ips);
      this.allowlists.set(cacheKey, list);
    }
    return list;
  }
}
