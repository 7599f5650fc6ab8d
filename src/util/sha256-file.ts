/** Streaming sha256 of a whole file: the model checksum of the registry and of `validate`. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";

/** Called with bytes done so far and the total. */
export type ProgressFn = (done: number, total: number) => void;

/** sha256 of a whole file, in hex, read as a stream in 4 MiB chunks. */
export async function sha256File(path: string, onProgress?: ProgressFn): Promise<string> {
  const total = (await stat(path)).size;
  const hash = createHash("sha256");
  let done = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onProgress?.(done, total);
  }
  onProgress?.(done, total);
  return hash.digest("hex");
}
