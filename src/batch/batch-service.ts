/**
 * The Batch API's service: create (the input file's lines recorded in the ledger in one
 * transaction), get, list with cursor paging, cancel. A batch belongs to the key that created
 * it; the admin API lists and cancels every key's.
 */
import { z } from "zod";
import { BulwarkError, parseInput } from "../errors/index.js";
import { newBatchId, newFileId, isBatchId } from "./ids.js";
import { BATCH_ENDPOINTS } from "./line-check.js";
import type { BatchLedger, BatchRow, NewLine } from "./ledger.js";
import type { Caller, FileService } from "./file-service.js";
import { toPage, type Page, type PageQuery } from "./paging.js";
import { batchObject, type BatchObject } from "./render.js";
import { isFinished } from "./states.js";

export interface BatchSettings {
  maxRequestsPerBatch: number;
  maxBatchesInFlightPerKey: number;
}

/** The one completion window OpenAI offers, in seconds. */
export const COMPLETION_WINDOW_S = 24 * 3600;

const metadataSchema = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, "at most 16 pairs");

const createSchema = z.strictObject({
  input_file_id: z.string().min(1),
  endpoint: z.enum(BATCH_ENDPOINTS),
  completion_window: z.literal("24h"),
  metadata: metadataSchema.nullable().optional(),
});

/** Told when there is new work or a batch was cancelled (the runner wakes up). */
export type Wake = () => void;

export class BatchService {
  private wake: Wake = () => undefined;

  constructor(
    private readonly ledger: BatchLedger,
    private readonly files: FileService,
    private readonly settings: BatchSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** The runner to wake on new work. */
  onWork(wake: Wake): void {
    this.wake = wake;
  }

  /** POST /v1/batches. `clientIp`: the lines run as requests from this address. */
  async create(caller: Caller, body: unknown, clientIp: string | null): Promise<BatchObject> {
    const input = parseInput(createSchema, body);
    const file = this.files.row(caller, input.input_file_id);
    if (file.purpose !== "batch" || file.endpoint === null) {
      throw new BulwarkError("invalid_request", `File ${file.id} is not a batch input file.`, {
        param: "input_file_id",
      });
    }
    if (file.endpoint !== input.endpoint) {
      throw new BulwarkError(
        "invalid_request",
        `The lines of file ${file.id} are for ${file.endpoint}, not ${input.endpoint}.`,
        { param: "endpoint" },
      );
    }
    if ((file.requests ?? 0) > this.settings.maxRequestsPerBatch) {
      throw new BulwarkError(
        "invalid_file",
        `A batch holds at most ${this.settings.maxRequestsPerBatch} requests; file ${file.id} has ${file.requests}.`,
        { param: "input_file_id" },
      );
    }
    if (this.ledger.unfinished(caller.owner) >= this.settings.maxBatchesInFlightPerKey) {
      throw inFlightQuota(this.settings.maxBatchesInFlightPerKey);
    }
    const lines = await this.scan(file.id);
    const createdAt = Math.floor(this.now() / 1000);
    const row: BatchRow = {
      id: newBatchId(),
      owner: caller.owner,
      client_ip: clientIp,
      endpoint: input.endpoint,
      model: file.model ?? "",
      input_file_id: file.id,
      completion_window: input.completion_window,
      metadata: input.metadata ? JSON.stringify(input.metadata) : null,
      status: "validating",
      ending: null,
      errors: null,
      created_at: createdAt,
      in_progress_at: null,
      expires_at: createdAt + COMPLETION_WINDOW_S,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      output_file_id: newFileId(),
      error_file_id: newFileId(),
      total: lines.length,
      completed: 0,
      failed: 0,
    };
    this.ledger.createBatch(row, lines, this.settings.maxBatchesInFlightPerKey);
    this.wake();
    return this.render(row);
  }

  /** The offset, length and custom_id of every request line (the file was checked on upload). */
  private async scan(fileId: string): Promise<NewLine[]> {
    const lines: NewLine[] = [];
    let lineNo = 0;
    for await (const { line, offset, length } of this.files.store.lines(fileId)) {
      lineNo++;
      const text = line.toString("utf8");
      if (text.trim() === "") continue;
      const customId = (JSON.parse(text) as { custom_id: string }).custom_id;
      lines.push({ lineNo, customId, offset, length });
    }
    return lines;
  }

  /** The caller's batch (any batch for the admin: caller undefined), or 404 batch_not_found. */
  row(caller: Caller | undefined, id: string): BatchRow {
    const row = isBatchId(id) ? this.ledger.batch(id) : undefined;
    if (!row || (caller !== undefined && row.owner !== caller.owner)) {
      throw new BulwarkError("batch_not_found", `No batch with id ${id}.`, { param: "batch_id" });
    }
    return row;
  }

  get(caller: Caller | undefined, id: string): BatchObject {
    return this.render(this.row(caller, id));
  }

  /** GET /v1/batches (a caller) or /admin/batches (undefined: every key's), newest first. */
  list(caller: Caller | undefined, q: PageQuery): Page<BatchObject & { owner?: string }> {
    const rows = this.ledger.listBatches({ ...q, ...(caller ? { owner: caller.owner } : {}) });
    const page = toPage(rows, q.limit);
    return {
      ...page,
      data: page.data.map((r) => ({
        ...this.render(r),
        ...(caller ? {} : { owner: r.owner }),
      })),
    };
  }

  /**
   * POST /v1/batches/{id}/cancel: no new line starts; the lines running finish, then the batch
   * is cancelled with the results it has. 409 batch_not_cancellable once it has ended.
   */
  cancel(caller: Caller | undefined, id: string): BatchObject {
    const row = this.row(caller, id);
    if (row.status === "cancelling" || row.status === "cancelled") return this.render(row);
    const at = Math.floor(this.now() / 1000);
    if (row.status === "validating") this.ledger.move(row.id, "in_progress", at);
    if (!this.ledger.move(row.id, "cancelling", at)) {
      throw new BulwarkError(
        "batch_not_cancellable",
        `Batch ${row.id} is ${this.ledger.batch(row.id)?.status ?? row.status}; it cannot be cancelled.`,
      );
    }
    this.wake();
    return this.render(this.ledger.batch(row.id)!);
  }

  render(row: BatchRow): BatchObject {
    const ended = isFinished(row.status);
    return batchObject(row, (fileId) => ended && this.ledger.file(fileId) !== undefined);
  }
}

function inFlightQuota(max: number): BulwarkError {
  return new BulwarkError(
    "quota_exceeded",
    `This key already has ${max} unfinished batches (batch.maxBatchesInFlightPerKey).`,
  );
}
