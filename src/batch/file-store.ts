/**
 * The files' bytes on disk, under <home>/files (0700, each file 0600). An upload streams
 * into a temporary file line by line, each line checked as it passes, and is renamed into place
 * only once the whole file passed: a refused upload leaves nothing behind. A line is never
 * longer than `maxLineBytes` (the live API's body limit), so memory holds at most one line.
 */
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { BulwarkError } from "../errors/index.js";

export interface ReceiveLimits {
  maxBytes: number;
  maxLineBytes: number;
}

/** Called with each line's text and its 1-based number; throws to refuse the file. */
export type LineSink = (text: string) => void;

const decoder = new TextDecoder("utf-8", { fatal: true });

export class FileStore {
  readonly dir: string;

  constructor(home: string) {
    this.dir = join(home, "files");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  path(id: string): string {
    return join(this.dir, `${id}.jsonl`);
  }

  size(id: string): number {
    try {
      return statSync(this.path(id)).size;
    } catch {
      return 0;
    }
  }

  remove(id: string): void {
    rmSync(this.path(id), { force: true });
  }

  /** Reads `length` bytes at `offset` (one line of an input file). */
  read(id: string, offset: number, length: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (length === 0) return resolve(Buffer.alloc(0));
      const chunks: Buffer[] = [];
      createReadStream(this.path(id), { start: offset, end: offset + length - 1 })
        .on("data", (c) => chunks.push(c as Buffer))
        .on("error", reject)
        .on("end", () => resolve(Buffer.concat(chunks)));
    });
  }

  /** A stream of the whole file (GET /v1/files/{id}/content). */
  stream(id: string): Readable {
    return createReadStream(this.path(id));
  }

  /**
   * Streams `input` into the file `id`, giving every line to `sink` as it passes. The first
   * refusal (a line's, or a limit's) stops the writing; the rest of the input is read and
   * dropped, so that the client gets the answer instead of a reset connection, and nothing is
   * kept. Resolves to the bytes written.
   */
  async receive(
    id: string,
    input: Readable,
    limits: ReceiveLimits,
    sink: LineSink,
  ): Promise<number> {
    const temp = join(this.dir, `.upload-${randomBytes(8).toString("hex")}`);
    const out = createWriteStream(temp, { mode: 0o600 });
    let failure: unknown;
    let bytes = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const fail = (err: unknown) => {
      failure ??= err;
    };
    const emit = (buf: Buffer) => {
      let text: string;
      try {
        text = decoder.decode(buf);
      } catch {
        sink("\u0000"); // counts the line; the sink refuses it as not JSON
        return;
      }
      sink(text.endsWith("\r") ? text.slice(0, -1) : text);
    };
    try {
      for await (const chunk of input) {
        const buf = chunk as Buffer;
        if (failure) continue;
        bytes += buf.length;
        if (bytes > limits.maxBytes) {
          fail(tooLarge(limits.maxBytes));
          continue;
        }
        try {
          let start = 0;
          for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
            const piece = buf.subarray(start, nl);
            if (pendingBytes + piece.length > limits.maxLineBytes) throw lineTooLong(limits);
            emit(pending.length ? Buffer.concat([...pending, piece]) : piece);
            pending = [];
            pendingBytes = 0;
            start = nl + 1;
          }
          const rest = buf.subarray(start);
          if (rest.length) {
            pendingBytes += rest.length;
            if (pendingBytes > limits.maxLineBytes) throw lineTooLong(limits);
            pending.push(Buffer.from(rest));
          }
        } catch (err) {
          fail(err);
          continue;
        }
        if (!out.write(buf)) await once(out, "drain");
      }
      // The multipart parser stops a file at its limit and marks the stream truncated.
      if ((input as { truncated?: boolean }).truncated) fail(tooLarge(limits.maxBytes));
      if (!failure && pendingBytes > 0) {
        try {
          emit(Buffer.concat(pending));
        } catch (err) {
          fail(err);
        }
      }
    } catch (err) {
      fail(fileStreamError(err, limits.maxBytes));
    }
    out.end();
    await once(out, "close");
    if (failure) {
      rmSync(temp, { force: true });
      throw failure;
    }
    renameSync(temp, this.path(id));
    return bytes;
  }
}

function tooLarge(maxBytes: number): BulwarkError {
  return new BulwarkError(
    "file_too_large",
    `The file is over ${maxBytes} bytes (batch.maxFileBytes).`,
    { param: "file" },
  );
}

function lineTooLong(limits: ReceiveLimits): BulwarkError {
  return new BulwarkError(
    "invalid_file",
    `A line is over ${limits.maxLineBytes} bytes, the largest request body (server.bodyLimit).`,
    { param: "file" },
  );
}

/** The multipart parser's own limit error, or anything else the stream threw. */
function fileStreamError(err: unknown, maxBytes: number): unknown {
  const code = (err as { code?: string } | null)?.code;
  return code === "FST_REQ_FILE_TOO_LARGE" ? tooLarge(maxBytes) : err;
}
