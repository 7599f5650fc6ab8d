/**
 * The state machines of a batch and of its lines, as OpenAI names a batch's statuses. Pure:
 * the ledger asks them before every change, so a status never moves backwards.
 *
 * A batch: validating → in_progress → finalizing → completed; in_progress → cancelling →
 * finalizing → cancelled; in_progress past its window → finalizing → expired; validating →
 * failed. A line: pending → running → completed | failed, and running → pending when its run
 * was cut short (a restart, a refusal for a limit): it runs again, from the start.
 */
export const BATCH_STATUSES = [
  "validating",
  "in_progress",
  "finalizing",
  "completed",
  "failed",
  "expired",
  "cancelling",
  "cancelled",
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** How a batch that is finalizing ends. */
export type BatchEnding = "completed" | "expired" | "cancelled";

const BATCH_NEXT: Record<BatchStatus, readonly BatchStatus[]> = {
  validating: ["in_progress", "failed"],
  in_progress: ["finalizing", "cancelling"],
  cancelling: ["finalizing"],
  finalizing: ["completed", "expired", "cancelled"],
  completed: [],
  failed: [],
  expired: [],
  cancelled: [],
};

export function canMoveBatch(from: BatchStatus, to: BatchStatus): boolean {
  return BATCH_NEXT[from].includes(to);
}

/** Statuses of a batch that has not ended (it counts toward the key's batches in flight). */
export const UNFINISHED: readonly BatchStatus[] = [
  "validating",
  "in_progress",
  "finalizing",
  "cancelling",
];

export function isFinished(status: BatchStatus): boolean {
  return !UNFINISHED.includes(status);
}

export type LineStatus = "pending" | "running" | "completed" | "failed";

const LINE_NEXT: Record<LineStatus, readonly LineStatus[]> = {
  pending: ["running"],
  running: ["pending", "completed", "failed"],
  completed: [],
  failed: [],
};

export function canMoveLine(from: LineStatus, to: LineStatus): boolean {
  return LINE_NEXT[from].includes(to);
}
