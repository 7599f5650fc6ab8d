/** Identifiers of files, batches and batch lines, in OpenAI's spelling (`file-…`, `batch_…`). */
import { randomBytes } from "node:crypto";

function random(): string {
  return randomBytes(12).toString("hex");
}

export const newFileId = (): string => `file-${random()}`;
export const newBatchId = (): string => `batch_${random()}`;
export const newLineRequestId = (): string => `batch_req_${random()}`;

/** Ids only ever made by the functions above: anything else is no file or batch. */
const FILE_ID = /^file-[0-9a-f]{24}$/;
const BATCH_ID = /^batch_[0-9a-f]{24}$/;

export const isFileId = (id: string): boolean => FILE_ID.test(id);
export const isBatchId = (id: string): boolean => BATCH_ID.test(id);
