/**
 * API key format: `bwk_<id>_<secret><check>`.
 * - id: 12 lowercase base-36 characters, the lookup handle (not secret, shown in lists and logs);
 * - secret: 32 base-62 characters from 24 random bytes (190 bits, above the 128 asked for);
 * - check: 4 base-62 characters of SHA-256 over the rest, so a mistyped key is refused before
 *   any lookup (1 in 14.7 million chance that a random typo passes).
 * Only SHA-256 of the whole key is stored.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B36 = "0123456789abcdefghijklmnopqrstuvwxyz";
const KEY_RE = /^bwk_([0-9a-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{4})$/;

function encode(bytes: Buffer, alphabet: string, length: number): string {
  let n = BigInt("0x" + (bytes.toString("hex") || "0"));
  const base = BigInt(alphabet.length);
  let out = "";
  for (let i = 0; i < length; i++) {
    out = alphabet[Number(n % base)]! + out;
    n /= base;
  }
  return out;
}

function checksum(body: string): string {
  return encode(createHash("sha256").update(body).digest().subarray(0, 4), B62, 4);
}

export interface ParsedKey {
  id: string;
  full: string;
}

/** Makes a new key; `id` may be given to keep a key's id across a rotation. */
export function generateKey(id?: string): ParsedKey {
  const keyId = id ?? encode(randomBytes(8), B36, 12);
  const body = `bwk_${keyId}_${encode(randomBytes(24), B62, 32)}`;
  return { id: keyId, full: body + checksum(body) };
}

/** Parses a key and checks its checksum; undefined for anything malformed. */
export function parseKey(raw: string): ParsedKey | undefined {
  const m = KEY_RE.exec(raw);
  if (!m) return undefined;
  const body = raw.slice(0, -4);
  if (checksum(body) !== m[3]) return undefined;
  return { id: m[1]!, full: raw };
}

/** The digest stored for a key. */
export function digestKey(full: string): Buffer {
  return createHash("sha256").update(full).digest();
}

/** Compares a key against a stored digest in constant time. */
export function matchesDigest(full: string, digest: Buffer): boolean {
  const candidate = digestKey(full);
  return digest.length === candidate.length && timingSafeEqual(candidate, digest);
}
