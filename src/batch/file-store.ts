/**
 * The files' bytes on disk, under <home>/files (0700, each file 0600). An upload streams
 * into a temporary file line by line, each line checked as it passes, and is renamed into place
 * only once the whole file passed: a refused upload leaves nothing behind. A line is never
 * longer than `maxLineBytes` (the live API's body limit), so memory holds at most one line.
 * Each line is kept through the store's LineCodec (sealed with the data key when one is set);
 * offsets and lengths are those of the stored lines, sizes reported to clients those of the
 * lines themselves.
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
import { Readable } from "node:stream";
import { BulwarkError } from "../errors/index.js";
import { fileLines } from "./file-lines.js";
import { plainLines, type LineCodec } from "./line-codec.js";

export interface ReceiveLimits {
  maxBytes: number;
  maxLineBytes: number;
}

/** Called with each line's text and its 1-based number; throws to refuse the file. */
export type LineSink = (text: string) => void;

const decoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = Buffer.from("\n");

export class FileStore {
  readonly dir: string;

  constructor(
    home: string,
    readonly codec: LineCodec = plainLines,
  ) {
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

  /** One stored line (as `read` returns it, newline included or not) decoded. */
  decodeLine(id: string, stored: Buffer): Buffer {
    const end =
      stored.length > 0 && stored[stored.length - 1] === 10 ? stored.length - 1 : stored.length;
    return this.codec.decode(id, stored.subarray(0, end));
  }

  /** The stored form of one line, newline included. */
  encodeLine(id: string, line: Buffer): Buffer {
    return Buffer.concat([this.codec.encode(id, line), NEWLINE]);
  }

  /** One line of a file, decoded (without its newline). */
  async readLine(id: string, offset: number, length: number): Promise<Buffer> {
    return this.decodeLine(id, await this.read(id, offset, length));
  }

  /** The lines of a file, decoded, one at a time with their stored offset and length. */
  async *lines(id: string): AsyncGenerator<{ line: Buffer; offset: number; length: number }> {
    for await (const { line, offset, length } of fileLines(this.path(id))) {
      yield { line: this.codec.decode(id, line), offset, length };
    }
  }

  /** A stream of the whole file as its lines read (GET /v1/files/{id}/content). */
  stream(id: string): Readable {
    if (!this.codec.sealed) return createReadStream(this.path(id));
    const lines = this.lines(id);
    return Readable.from(
      (async function* () {
        for await (const { line } of lines) yield Buffer.concat([line, NEWLINE]);
      })(),
    );
  }

  /** The size of a file as its lines read (what GET …/content sends). */
  async plainSize(id: string): Promise<number> {
    const size = this.size(id);
    if (!this.codec.sealed || size === 0) return size;
    let bytes = 0;
    for await (const { line } of this.lines(id)) bytes += line.length + 1;
    return bytes;
  }

  /**
   * Streams `input` into the file `id`, giving every line to `sink` as it passes. The first
   * refusal (a line's, or a limit's) stops the writing; the rest of the input is read and
   * dropped, so that the client gets the answer instead of a reset connection, and nothing is
   * kept. Resolves to the file's size as its lines read (each ends with a newline).
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
    /** The size of the file as its lines read back (each with its newline). */
    let kept = 0;
    let ready: Buffer[] = [];
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
      ready.push(this.encodeLine(id, buf));
      kept += buf.length + 1;
    };
    const flush = async () => {
      const lines = ready;
      ready = [];
      for (const l of lines) if (!out.write(l)) await once(out, "drain");
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
        await flush();
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
      if (!failure) await flush();
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
    return kept;
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
