/**
 * Streaming sha256 of model files (whole-file, and the quick fingerprint checked at every load),
 * and a copy that hashes as it writes, so an import reads the source once.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { ProgressFn } from "../util/sha256-file.js";

export { sha256File, type ProgressFn } from "../util/sha256-file.js";

export const MiB = 1024 * 1024;

/**
 * The load-time fingerprint: sha256 over the size, the first MiB and the last MiB. It reads at
 * most 2 MiB however large the model, and catches truncation, a torn tail and a damaged header.
 */
export async function fingerprintFile(
  path: string,
): Promise<{ size: number; fingerprint: string }> {
  const handle = await open(path, "r");
  try {
    const size = (await handle.stat()).size;
    const hash = createHash("sha256");
    hash.update(`size:${size}\n`);
    const headLength = Math.min(MiB, size);
    const head = Buffer.alloc(headLength);
    await handle.read(head, 0, headLength, 0);
    hash.update(head);
    const tailStart = Math.max(headLength, size - MiB);
    const tail = Buffer.alloc(size - tailStart);
    if (tail.length > 0) await handle.read(tail, 0, tail.length, tailStart);
    hash.update(tail);
    return { size, fingerprint: hash.digest("hex") };
  } finally {
    await handle.close();
  }
}

/** Copies `src` to `dest` (created, fsynced) and returns the sha256 of the bytes written. */
export async function copyWithHash(
  src: string,
  dest: string,
  onProgress?: ProgressFn,
): Promise<{ sha256: string; size: number }> {
  const total = (await stat(src)).size;
  const hash = createHash("sha256");
  const out = await open(dest, "wx", 0o644);
  let done = 0;
  try {
    for await (const chunk of createReadStream(src, { highWaterMark: 4 * MiB })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      let off = 0;
      while (off < buf.length) off += (await out.write(buf, off)).bytesWritten;
      done += buf.length;
      onProgress?.(done, total);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  onProgress?.(done, total);
  return { sha256: hash.digest("hex"), size: done };
}
