/**
 * Sealed values: AES-256-GCM with the data key, for anything that holds prompt or output text
 * at rest (a cache tier, batch files, a stored request body). Each sealed value names the key
 * that sealed it, so keys rotate: the keyring opens values sealed with the current key or any
 * previous one, and `reseal` moves a value to the current key.
 *
 * Layout: "BWS1" | key id (8 bytes) | IV (12 bytes) | tag (16 bytes) | ciphertext.
 * `aad` binds a value to its place (a cache key, a file name): moved elsewhere, it fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { BulwarkError } from "../errors/index.js";
import { loadDataKey, type DataKey } from "../backup/index.js";

const MAGIC = Buffer.from("BWS1");
const ID_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEAD = MAGIC.length + ID_BYTES + IV_BYTES + TAG_BYTES;

/** The current data key and the previous ones still able to open what they sealed. */
export class Keyring {
  private readonly byId = new Map<string, Buffer>();

  constructor(
    readonly current: DataKey,
    previous: readonly DataKey[] = [],
  ) {
    for (const k of [current, ...previous]) this.byId.set(k.id, k.key);
  }

  /** The ids of the previous keys (those that only open). */
  previousIds(): string[] {
    return [...this.byId.keys()].filter((id) => id !== this.current.id);
  }

  /** Keys of the environment: BULWARK_DATA_KEY_FILE (or BULWARK_DATA_KEY), and the files of
   * BULWARK_DATA_KEY_PREVIOUS_FILES (comma-separated) for values sealed before a rotation.
   * Undefined when no data key is set. */
  static fromEnv(env: Record<string, string | undefined> = process.env): Keyring | undefined {
    const current = loadDataKey(env);
    if (!current) return undefined;
    const previous = (env.BULWARK_DATA_KEY_PREVIOUS_FILES ?? "")
      .split(",")
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => loadDataKey({ BULWARK_DATA_KEY_FILE: f })!);
    return new Keyring(current, previous);
  }

  seal(plaintext: Buffer | string, aad = ""): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.current.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([
      MAGIC,
      Buffer.from(this.current.id, "hex"),
      iv,
      cipher.getAuthTag(),
      body,
    ]);
  }

  /** The plaintext; throws `data_key_unknown` or `sealed_value_invalid` (tampered, moved). */
  open(sealed: Buffer, aad = ""): Buffer {
    if (!isSealed(sealed)) throw invalid("not a sealed value");
    const id = sealed.subarray(MAGIC.length, MAGIC.length + ID_BYTES).toString("hex");
    const key = this.byId.get(id);
    if (!key) {
      throw new BulwarkError(
        "data_key_unknown",
        `sealed with data key ${id}, which is neither the current key nor a previous one`,
      );
    }
    const at = MAGIC.length + ID_BYTES;
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(at, at + IV_BYTES));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(sealed.subarray(at + IV_BYTES, HEAD));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(HEAD)), decipher.final()]);
    } catch {
      throw invalid("the value was altered or belongs elsewhere");
    }
  }

  /** The id of the key that sealed a value. */
  keyIdOf(sealed: Buffer): string {
    return sealed.subarray(MAGIC.length, MAGIC.length + ID_BYTES).toString("hex");
  }

  /** The value sealed again with the current key (unchanged when it already is). */
  reseal(sealed: Buffer, aad = ""): Buffer {
    if (this.keyIdOf(sealed) === this.current.id) return sealed;
    return this.seal(this.open(sealed, aad), aad);
  }
}

export function isSealed(value: Buffer): boolean {
  return value.length >= HEAD && value.subarray(0, MAGIC.length).equals(MAGIC);
}

function invalid(why: string): BulwarkError {
  return new BulwarkError("sealed_value_invalid", `cannot open a sealed value: ${why}`);
}
