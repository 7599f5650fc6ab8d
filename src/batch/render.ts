/** The File and Batch objects as OpenAI's API returns them, from the ledger's rows. */
import type { BatchRow, FileRow } from "./ledger.js";

export interface FileObject {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: "processed";
  expires_at: null;
  status_details: null;
}

export function fileObject(row: FileRow): FileObject {
  return {
    id: row.id,
    object: "file",
    bytes: row.bytes,
    created_at: row.created_at,
    filename: row.filename,
    purpose: row.purpose,
    status: "processed",
    expires_at: null,
    status_details: null,
  };
}

export interface BatchObject {
  id: string;
  object: "batch";
  endpoint: string;
  model: string;
  errors: { object: "list"; data: unknown[] } | null;
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
}

/**
 * `exists(id)`: whether a result file was kept; output_file_id and error_file_id name a file
 * only once the batch ended with at least one line in it.
 */
export function batchObject(row: BatchRow, exists: (fileId: string) => boolean): BatchObject {
  return {
    id: row.id,
    object: "batch",
    endpoint: row.endpoint,
    model: row.model,
    errors: row.errors ? { object: "list", data: JSON.parse(row.errors) as unknown[] } : null,
    input_file_id: row.input_file_id,
    completion_window: row.completion_window,
    status: row.status,
    output_file_id: exists(row.output_file_id) ? row.output_file_id : null,
    error_file_id: exists(row.error_file_id) ? row.error_file_id : null,
    created_at: row.created_at,
    in_progress_at: row.in_progress_at,
    expires_at: row.expires_at,
    finalizing_at: row.finalizing_at,
    completed_at: row.completed_at,
    failed_at: row.failed_at,
    expired_at: row.expired_at,
    cancelling_at: row.cancelling_at,
    cancelled_at: row.cancelled_at,
    request_counts: { total: row.total, completed: row.completed, failed: row.failed },
    metadata: row.metadata ? (JSON.parse(row.metadata) as Record<string, string>) : null,
  };
}
