/**
 * Files encrypted with AES-256-GCM, streamed so a model of many GiB never sits in memory:
 * the magic "BWENC1\n", a 12-byte random IV, the ciphertext, and the 16-byte tag at the end.
 * Decryption checks the tag before the plaintext is renamed into place.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { BulwarkError } from "../errors/index.js";

const MAGIC = Buffer.from("BWENC1\n");
const IV_BYTES = 12;
const TAG_BYTES = 16;
const CHUNK = 4 * 1024 * 1024;

/** sha256 and size of the bytes written, and the sha256 of the plaintext read. */
export interface Written {
  sha256: string;
  size: number;
  plainSha256: string;
}

/** Encrypts `src` into `dest` (created, fsynced); returns the digest of what was written. */
export async function encryptFile(src: string, dest: string, key: Buffer): Promise<Written> {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const hash = createHash("sha256");
  const plain = createHash("sha256");
  const out = await open(dest, "wx", 0o600);
  let size = 0;
  const put = async (buf: Buffer) => {
    if (buf.length === 0) return;
    hash.update(buf);
    let off = 0;
    while (off < buf.length) off += (await out.write(buf, off)).bytesWritten;
    size += buf.length;
  };
  try {
    await put(MAGIC);
    await put(iv);
    for await (const chunk of createReadStream(src, { highWaterMark: CHUNK })) {
      plain.update(chunk as Buffer);
      await put(cipher.update(chunk as Buffer));
    }
    await put(cipher.final());
    await put(cipher.getAuthTag());
    await out.sync();
  } finally {
    await out.close();
  }
  return { sha256: hash.digest("hex"), size, plainSha256: plain.digest("hex") };
}

/**
 * Decrypts `src` into `dest`: written beside it, and renamed into place only once the tag
 * proves the key right and the bytes unchanged. `label` names the file in the error.
 */
export async function decryptFile(
  src: string,
  dest: string,
  key: Buffer,
  label: string,
): Promise<void> {
  const input = await open(src, "r");
  const tmp = `${dest}.${randomBytes(4).toString("hex")}.tmp`;
  let ok = false;
  try {
    const size = (await input.stat()).size;
    const head = Buffer.alloc(MAGIC.length + IV_BYTES);
    await input.read(head, 0, head.length, 0);
    if (size < head.length + TAG_BYTES || !head.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new BulwarkError("backup_corrupted", `${label}: not an encrypted backup file`);
    }
    const tag = Buffer.alloc(TAG_BYTES);
    await input.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", key, head.subarray(MAGIC.length));
    decipher.setAuthTag(tag);
    const out = await open(tmp, "wx", 0o600);
    try {
      const end = size - TAG_BYTES - 1;
      if (end >= head.length) {
        const stream = input.createReadStream({
          start: head.length,
          end,
          autoClose: false,
          highWaterMark: CHUNK,
        });
        for await (const chunk of stream) await writeAll(out, decipher.update(chunk as Buffer));
      }
      try {
        await writeAll(out, decipher.final());
      } catch {
        throw new BulwarkError(
          "backup_corrupted",
          `${label}: decryption failed (another data key, or the file was changed)`,
        );
      }
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, dest);
    ok = true;
  } finally {
    await input.close();
    if (!ok) await unlink(tmp).catch(() => undefined);
  }
}

async function writeAll(out: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) off += (await out.write(buf, off)).bytesWritten;
}
