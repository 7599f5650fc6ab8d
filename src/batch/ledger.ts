/**
 * The batch ledger in the server's SQLite file: the files, the batches and every line of every
 * batch (status, attempts, where its result was written). A line is marked running, with its
 * attempt counted, before its request starts; its result is written to the output file and
 * fsynced before the ledger marks it done. So after a crash the ledger says which lines ran to
 * the end (never run again) and which were cut short (run again).
 */
import { BulwarkError } from "../errors/index.js";
import { migrate, type Db } from "../store/index.js";
import { canMoveBatch, type BatchEnding, type BatchStatus, type LineStatus } from "./states.js";
import type { BatchEndpoint } from "./line-check.js";

const MIGRATIONS = [
  {
    name: "001-batch",
    up: `CREATE TABLE batch_files (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
      purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL,
      created_at INTEGER NOT NULL, requests INTEGER, model TEXT, endpoint TEXT);
    CREATE INDEX batch_files_by_owner ON batch_files (owner, seq);
    CREATE TABLE batch_batches (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
      client_ip TEXT, endpoint TEXT NOT NULL, model TEXT NOT NULL, input_file_id TEXT NOT NULL,
      completion_window TEXT NOT NULL, metadata TEXT, status TEXT NOT NULL, ending TEXT,
      errors TEXT, created_at INTEGER NOT NULL, in_progress_at INTEGER, expires_at INTEGER NOT NULL,
      finalizing_at INTEGER, completed_at INTEGER, failed_at INTEGER, expired_at INTEGER,
      cancelling_at INTEGER, cancelled_at INTEGER,
      output_file_id TEXT NOT NULL, error_file_id TEXT NOT NULL,
      total INTEGER NOT NULL, completed INTEGER NOT NULL DEFAULT 0,
      failed INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX batch_batches_by_owner ON batch_batches (owner, seq);
    CREATE INDEX batch_batches_by_status ON batch_batches (status, seq);
    CREATE TABLE batch_lines (
      batch_id TEXT NOT NULL, line_no INTEGER NOT NULL, custom_id TEXT NOT NULL,
      input_offset INTEGER NOT NULL, input_length INTEGER NOT NULL,
      status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
      result TEXT, result_offset INTEGER, result_length INTEGER,
      PRIMARY KEY (batch_id, line_no), UNIQUE (batch_id, custom_id));
    CREATE INDEX batch_lines_by_status ON batch_lines (batch_id, status, line_no)`,
  },
];

export interface FileRow {
  id: string;
  owner: string;
  purpose: string;
  filename: string;
  bytes: number;
  /** Epoch seconds. */
  created_at: number;
  requests: number | null;
  model: string | null;
  endpoint: BatchEndpoint | null;
}

export interface BatchRow {
  id: string;
  owner: string;
  client_ip: string | null;
  endpoint: BatchEndpoint;
  model: string;
  input_file_id: string;
  completion_window: string;
  metadata: string | null;
  status: BatchStatus;
  ending: BatchEnding | null;
  errors: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  output_file_id: string;
  error_file_id: string;
  total: number;
  completed: number;
  failed: number;
}

export interface LineRow {
  batch_id: string;
  line_no: number;
  custom_id: string;
  input_offset: number;
  input_length: number;
  status: LineStatus;
  attempts: number;
  result: "output" | "error" | null;
  result_offset: number | null;
  result_length: number | null;
}

/** A line of the input file as the batch records it. */
export interface NewLine {
  lineNo: number;
  customId: string;
  offset: number;
  length: number;
}

export interface ListQuery {
  /** Only this owner's; undefined: every owner's (admin). */
  owner?: string;
  limit: number;
  /** The id of the last item of the previous page. */
  after?: string;
  /** Newest first (default) or oldest first. */
  order?: "asc" | "desc";
  purpose?: string;
}

/** A line's result, written and fsynced in its file before the ledger records it. */
export interface LineResult {
  status: "completed" | "failed";
  file: "output" | "error";
  offset: number;
  length: number;
}

export class BatchLedger {
  constructor(private readonly db: Db) {
    migrate(db, "batch", MIGRATIONS);
  }

  // Files

  insertFile(row: FileRow): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO batch_files (id, owner, purpose, filename, bytes, created_at,
         requests, model, endpoint) VALUES (@id, @owner, @purpose, @filename, @bytes, @created_at,
         @requests, @model, @endpoint)`,
      )
      .run(row);
  }

  file(id: string): FileRow | undefined {
    return this.db
      .prepare(
        `SELECT id, owner, purpose, filename, bytes, created_at, requests, model, endpoint
         FROM batch_files WHERE id = ?`,
      )
      .get(id) as FileRow | undefined;
  }

  listFiles(q: ListQuery): FileRow[] {
    return this.list<FileRow>(
      "batch_files",
      "id, owner, purpose, filename, bytes, created_at, requests, model, endpoint",
      q,
      q.purpose !== undefined ? { column: "purpose", value: q.purpose } : undefined,
    );
  }

  deleteFile(id: string): boolean {
    return this.db.prepare("DELETE FROM batch_files WHERE id = ?").run(id).changes > 0;
  }

  /** Files and bytes a key holds. */
  ownerFiles(owner: string): { files: number; bytes: number } {
    const row = this.db
      .prepare(
        "SELECT COUNT(*) AS files, COALESCE(SUM(bytes), 0) AS bytes FROM batch_files WHERE owner = ?",
      )
      .get(owner) as { files: number; bytes: number };
    return row;
  }

  /** Whether an unfinished batch reads this file. */
  fileInUse(id: string): boolean {
    return (
      this.db
        .prepare(
          `SELECT 1 FROM batch_batches WHERE input_file_id = ?
           AND status IN ('validating', 'in_progress', 'finalizing', 'cancelling') LIMIT 1`,
        )
        .get(id) !== undefined
    );
  }

  // Batches

  /**
   * Records a batch with all of its lines in one transaction, after checking the owner's
   * batches in flight in the same transaction: either all of it exists, or nothing.
   */
  createBatch(row: BatchRow, lines: readonly NewLine[], maxInFlight: number): void {
    const insertBatch = this.db.prepare(
      `INSERT INTO batch_batches (id, owner, client_ip, endpoint, model, input_file_id,
       completion_window, metadata, status, ending, errors, created_at, in_progress_at, expires_at,
       output_file_id, error_file_id, total) VALUES (@id, @owner, @client_ip, @endpoint, @model,
       @input_file_id, @completion_window, @metadata, @status, @ending, @errors, @created_at,
       @in_progress_at, @expires_at, @output_file_id, @error_file_id, @total)`,
    );
    const insertLine = this.db.prepare(
      `INSERT INTO batch_lines (batch_id, line_no, custom_id, input_offset, input_length, status)
       VALUES (?, ?, ?, ?, ?, 'pending')`,
    );
    this.db.transaction(() => {
      if (this.unfinished(row.owner) >= maxInFlight) {
        throw new BulwarkError(
          "quota_exceeded",
          `This key already has ${maxInFlight} unfinished batches (batch.maxBatchesInFlightPerKey).`,
        );
      }
      insertBatch.run(row);
      for (const l of lines) insertLine.run(row.id, l.lineNo, l.customId, l.offset, l.length);
    })();
  }

  unfinished(owner: string): number {
    return this.db
      .prepare(
        `SELECT COUNT(*) FROM batch_batches WHERE owner = ?
         AND status IN ('validating', 'in_progress', 'finalizing', 'cancelling')`,
      )
      .pluck()
      .get(owner) as number;
  }

  batch(id: string): BatchRow | undefined {
    return this.db.prepare(`SELECT ${BATCH_COLUMNS} FROM batch_batches WHERE id = ?`).get(id) as
      BatchRow | undefined;
  }

  listBatches(q: ListQuery): BatchRow[] {
    return this.list<BatchRow>("batch_batches", BATCH_COLUMNS, q);
  }

  /** Batches in these statuses, oldest first. */
  batchesIn(statuses: readonly BatchStatus[]): BatchRow[] {
    const marks = statuses.map(() => "?").join(", ");
    return this.db
      .prepare(`SELECT ${BATCH_COLUMNS} FROM batch_batches WHERE status IN (${marks}) ORDER BY seq`)
      .all(...statuses) as BatchRow[];
  }

  /**
   * Moves a batch to `to` when its status allows it, setting `<to>_at` (epoch seconds) and the
   * extra columns; returns whether it moved.
   */
  move(
    id: string,
    to: BatchStatus,
    at: number,
    extra: Partial<Pick<BatchRow, "ending" | "errors">> = {},
  ): boolean {
    return this.db.transaction(() => {
      const row = this.batch(id);
      if (!row || !canMoveBatch(row.status, to)) return false;
      const sets = ["status = @to", `${to}_at = @at`];
      if (extra.ending !== undefined) sets.push("ending = @ending");
      if (extra.errors !== undefined) sets.push("errors = @errors");
      this.db
        .prepare(`UPDATE batch_batches SET ${sets.join(", ")} WHERE id = @id`)
        .run({ id, to, at, ending: extra.ending ?? null, errors: extra.errors ?? null });
      return true;
    })();
  }

  // Lines

  /** Takes the next pending line of a batch: running, its attempt counted, before it starts. */
  claim(batchId: string): LineRow | undefined {
    return this.db.transaction(() => {
      const line = this.db
        .prepare(
          `SELECT ${LINE_COLUMNS} FROM batch_lines WHERE batch_id = ? AND status = 'pending'
           ORDER BY line_no LIMIT 1`,
        )
        .get(batchId) as LineRow | undefined;
      if (!line) return undefined;
      this.db
        .prepare(
          `UPDATE batch_lines SET status = 'running', attempts = attempts + 1
           WHERE batch_id = ? AND line_no = ?`,
        )
        .run(batchId, line.line_no);
      return { ...line, status: "running" as const, attempts: line.attempts + 1 };
    })();
  }

  /** A running line goes back to pending; `uncount`: its attempt does not count (a refusal). */
  release(batchId: string, lineNo: number, uncount: boolean): void {
    this.db
      .prepare(
        `UPDATE batch_lines SET status = 'pending', attempts = attempts - ?
         WHERE batch_id = ? AND line_no = ? AND status = 'running'`,
      )
      .run(uncount ? 1 : 0, batchId, lineNo);
  }

  /** Records a line's result (already fsynced in its file) and counts it on its batch. */
  finish(batchId: string, lineNo: number, r: LineResult): boolean {
    return this.db.transaction(() => {
      const changed = this.db
        .prepare(
          `UPDATE batch_lines SET status = ?, result = ?, result_offset = ?, result_length = ?
           WHERE batch_id = ? AND line_no = ? AND status IN ('running', 'pending')`,
        )
        .run(r.status, r.file, r.offset, r.length, batchId, lineNo).changes;
      if (changed === 0) return false;
      const column = r.status === "completed" ? "completed" : "failed";
      this.db
        .prepare(`UPDATE batch_batches SET ${column} = ${column} + 1 WHERE id = ?`)
        .run(batchId);
      return true;
    })();
  }

  line(batchId: string, customId: string): LineRow | undefined {
    return this.db
      .prepare(`SELECT ${LINE_COLUMNS} FROM batch_lines WHERE batch_id = ? AND custom_id = ?`)
      .get(batchId, customId) as LineRow | undefined;
  }

  /** Lines of a batch in a status, in file order. */
  linesIn(batchId: string, status: LineStatus): LineRow[] {
    return this.db
      .prepare(
        `SELECT ${LINE_COLUMNS} FROM batch_lines WHERE batch_id = ? AND status = ? ORDER BY line_no`,
      )
      .all(batchId, status) as LineRow[];
  }

  /** Lines of a batch not ended yet (pending or running). */
  openLines(batchId: string): number {
    return this.db
      .prepare(
        "SELECT COUNT(*) FROM batch_lines WHERE batch_id = ? AND status IN ('pending', 'running')",
      )
      .pluck()
      .get(batchId) as number;
  }

  /** Where the results recorded in a batch's output or error file end. */
  committedEnd(batchId: string, file: "output" | "error"): number {
    return this.db
      .prepare(
        `SELECT COALESCE(MAX(result_offset + result_length), 0) FROM batch_lines
         WHERE batch_id = ? AND result = ?`,
      )
      .pluck()
      .get(batchId, file) as number;
  }

  /** At start: every line that was running when the server stopped goes back to the queue. */
  requeueRunning(): number {
    return this.db
      .prepare("UPDATE batch_lines SET status = 'pending' WHERE status = 'running'")
      .run().changes;
  }

  /** Attempts of every line of a batch, by custom_id (tests and the admin view). */
  attempts(batchId: string): Map<string, number> {
    const rows = this.db
      .prepare("SELECT custom_id, attempts FROM batch_lines WHERE batch_id = ?")
      .all(batchId) as { custom_id: string; attempts: number }[];
    return new Map(rows.map((r) => [r.custom_id, r.attempts]));
  }

  private list<T>(
    table: string,
    columns: string,
    q: ListQuery,
    filter?: { column: string; value: string },
  ): T[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const desc = (q.order ?? "desc") === "desc";
    if (q.owner !== undefined) {
      where.push("owner = ?");
      args.push(q.owner);
    }
    if (filter) {
      where.push(`${filter.column} = ?`);
      args.push(filter.value);
    }
    if (q.after !== undefined) {
      where.push(
        `seq ${desc ? "<" : ">"} COALESCE((SELECT seq FROM ${table} WHERE id = ?), ${
          desc ? "-1" : "9223372036854775807"
        })`,
      );
      args.push(q.after);
    }
    const sql =
      `SELECT ${columns} FROM ${table}` +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      ` ORDER BY seq ${desc ? "DESC" : "ASC"} LIMIT ?`;
    return this.db.prepare(sql).all(...args, q.limit + 1) as T[];
  }
}

const BATCH_COLUMNS = `id, owner, client_ip, endpoint, model, input_file_id, completion_window,
  metadata, status, ending, errors, created_at, in_progress_at, expires_at, finalizing_at,
  completed_at, failed_at, expired_at, cancelling_at, cancelled_at, output_file_id, error_file_id,
  total, completed, failed`;

const LINE_COLUMNS = `batch_id, line_no, custom_id, input_offset, input_length, status, attempts,
  result, result_offset, result_length`;
