/**
 * The data key that encrypts backups: 32 bytes for AES-256-GCM, read from the file named by
 * BULWARK_DATA_KEY_FILE, else from BULWARK_DATA_KEY, as 64 hex digits, base64, or (in a file)
 * 32 raw bytes. The key never goes into a backup; a backup records only its id, so a restore
 * with another key is refused before anything is written.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { BulwarkError } from "../errors/index.js";

export interface DataKey {
  key: Buffer;
  /** The first 16 hex digits of a hash of the key: names it without revealing it. */
  id: string;
}

function decode(raw: Buffer, from: string): Buffer {
  if (raw.length === 32) return raw;
  const text = raw.toString("utf8").trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  const b64 = Buffer.from(text, "base64");
  if (b64.length === 32 && /^[A-Za-z0-9+/=_-]+$/.test(text)) return b64;
  throw new BulwarkError(
    "backup_key_unavailable",
    `${from} is not a 32-byte key (64 hex digits, base64, or 32 raw bytes); make one with ` +
      "`openssl rand -hex 32`",
  );
}

/** The data key of the environment, or undefined when neither variable is set. */
export function loadDataKey(
  env: Record<string, string | undefined> = process.env,
): DataKey | undefined {
  let key: Buffer | undefined;
  if (env.BULWARK_DATA_KEY_FILE) {
    let raw: Buffer;
    try {
      raw = readFileSync(env.BULWARK_DATA_KEY_FILE);
    } catch (err) {
      throw new BulwarkError(
        "backup_key_unavailable",
        `cannot read BULWARK_DATA_KEY_FILE (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    key = decode(raw, "BULWARK_DATA_KEY_FILE");
  } else if (env.BULWARK_DATA_KEY) {
    key = decode(Buffer.from(env.BULWARK_DATA_KEY), "BULWARK_DATA_KEY");
  }
  return key ? { key, id: keyId(key) } : undefined;
}

/** The data key, or an error that says how to provide one. */
export function requireDataKey(env: Record<string, string | undefined> = process.env): DataKey {
  const key = loadDataKey(env);
  if (!key) {
    throw new BulwarkError(
      "backup_key_unavailable",
      "an encrypted backup needs the data key: set BULWARK_DATA_KEY_FILE (or BULWARK_DATA_KEY)",
    );
  }
  return key;
}

export function keyId(key: Buffer): string {
  return createHash("sha256")
    .update("bulwark data key id\n")
    .update(key)
    .digest("hex")
    .slice(0, 16);
}
