/**
 * The Files API's service: upload (streamed and checked line by line), list, get, content,
 * delete. A file belongs to the key that uploaded it: for any other key it does not exist.
 * Quotas per key: files held and bytes on disk.
 */
import type { Readable } from "node:stream";
import { BulwarkError } from "../errors/index.js";
import { newFileId, isFileId } from "./ids.js";
import type { BatchLedger, FileRow } from "./ledger.js";
import type { FileStore } from "./file-store.js";
import { InputFileChecker, type LineCheckSettings } from "./line-check.js";
import { toPage, type Page, type PageQuery } from "./paging.js";
import { fileObject, type FileObject } from "./render.js";

export interface FileSettings {
  maxFileBytes: number;
  maxFilesPerKey: number;
  maxBytesPerKey: number;
  /** The largest line: the live API's body limit. */
  maxLineBytes: number;
}

/** One part of a multipart upload, as the route hands it over. */
export type UploadPart =
  | { kind: "field"; name: string; value: string }
  | { kind: "file"; filename: string; stream: Readable };

/** Who asks: the key id (the empty string with auth off). */
export interface Caller {
  owner: string;
}

const FILENAME_MAX = 255;

export class FileService {
  constructor(
    private readonly ledger: BatchLedger,
    readonly store: FileStore,
    private readonly settings: FileSettings,
    private readonly checks: () => LineCheckSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** POST /v1/files: `purpose` must be "batch"; the file is checked as a batch input file. */
  async upload(caller: Caller, parts: AsyncIterable<UploadPart>): Promise<FileObject> {
    const held = this.ledger.ownerFiles(caller.owner);
    if (held.files >= this.settings.maxFilesPerKey) {
      throw new BulwarkError(
        "quota_exceeded",
        `This key already holds ${held.files} files (batch.maxFilesPerKey); delete some first.`,
      );
    }
    let purpose: string | undefined;
    let received:
      { id: string; filename: string; bytes: number; row: Partial<FileRow> } | undefined;
    let failure: unknown;
    try {
      for await (const part of parts) {
        if (part.kind === "field") {
          if (part.name === "purpose") purpose = part.value;
          continue;
        }
        if (received || failure) {
          part.stream.resume();
          failure ??= new BulwarkError("invalid_request", "Send one file per upload.", {
            param: "file",
          });
          continue;
        }
        try {
          received = await this.receive(part.filename, part.stream);
        } catch (err) {
          failure = err;
        }
      }
    } catch (err) {
      failure ??= err;
    }
    const drop = () => received && this.store.remove(received.id);
    if (failure) {
      drop();
      throw failure;
    }
    if (purpose !== "batch") {
      drop();
      throw new BulwarkError(
        purpose === undefined ? "missing_parameter" : "invalid_request",
        purpose === undefined
          ? "purpose is required."
          : `purpose ${JSON.stringify(purpose)} is not supported here; use "batch".`,
        { param: "purpose" },
      );
    }
    if (!received) {
      throw new BulwarkError("missing_parameter", "file is required.", { param: "file" });
    }
    if (held.bytes + received.bytes > this.settings.maxBytesPerKey) {
      drop();
      throw new BulwarkError(
        "quota_exceeded",
        `This key's files would take more than ${this.settings.maxBytesPerKey} bytes ` +
          "(batch.maxBytesPerKey); delete some first.",
      );
    }
    const row: FileRow = {
      id: received.id,
      owner: caller.owner,
      purpose,
      filename: received.filename,
      bytes: received.bytes,
      created_at: Math.floor(this.now() / 1000),
      requests: received.row.requests ?? null,
      model: received.row.model ?? null,
      endpoint: received.row.endpoint ?? null,
    };
    this.ledger.insertFile(row);
    return fileObject(row);
  }

  private async receive(filename: string, stream: Readable) {
    const id = newFileId();
    const checker = new InputFileChecker(this.checks());
    const bytes = await this.store.receive(
      id,
      stream,
      { maxBytes: this.settings.maxFileBytes, maxLineBytes: this.settings.maxLineBytes },
      (line) => checker.line(line),
    );
    let summary;
    try {
      summary = checker.finish();
    } catch (err) {
      this.store.remove(id);
      throw err;
    }
    return {
      id,
      filename: (filename || "input.jsonl").slice(0, FILENAME_MAX),
      bytes,
      row: { requests: summary.requests, model: summary.model, endpoint: summary.endpoint },
    };
  }

  /** The caller's file, or 404 file_not_found (also for another key's file). */
  row(caller: Caller | undefined, id: string): FileRow {
    const row = isFileId(id) ? this.ledger.file(id) : undefined;
    if (!row || (caller !== undefined && row.owner !== caller.owner)) {
      throw new BulwarkError("file_not_found", `No file with id ${id}.`, { param: "file_id" });
    }
    return row;
  }

  get(caller: Caller, id: string): FileObject {
    return fileObject(this.row(caller, id));
  }

  list(
    caller: Caller,
    q: PageQuery & { purpose?: string; order?: "asc" | "desc" },
  ): Page<FileObject> {
    const rows = this.ledger.listFiles({ owner: caller.owner, ...q });
    const page = toPage(rows, q.limit);
    return { ...page, data: page.data.map(fileObject) };
  }

  content(caller: Caller, id: string): { stream: Readable; bytes: number } {
    const row = this.row(caller, id);
    return { stream: this.store.stream(row.id), bytes: row.bytes };
  }

  /** DELETE /v1/files/{id}; 409 file_in_use while an unfinished batch reads it. */
  delete(caller: Caller, id: string): { id: string; object: "file"; deleted: true } {
    const row = this.row(caller, id);
    if (this.ledger.fileInUse(row.id)) {
      throw new BulwarkError(
        "file_in_use",
        `File ${row.id} is the input of an unfinished batch; cancel it or wait for it to end.`,
      );
    }
    this.ledger.deleteFile(row.id);
    this.store.remove(row.id);
    return { id: row.id, object: "file", deleted: true };
  }
}
