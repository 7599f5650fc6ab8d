/**
 * The text of a progress line: a pure function of the counters and the elapsed time, so every
 * long piece of work (model conversion, registry transfers, benchmark runs) prints the same
 * shape. Drawing it on a terminal is `progress-display.ts`.
 */
import { formatBytes, formatDuration } from "./format.js";

/** What the counters count: bytes (with rate and time left), items, or a bare percentage. */
export type ProgressUnit = "bytes" | "items" | "percent";

export interface ProgressState {
  done: number;
  total: number;
  /** Time since the work started, in milliseconds. */
  elapsedMs: number;
  /** Items that failed so far (shown when non-zero). */
  failed?: number;
  /** What is being worked on now, such as a tensor name (shown last). */
  detail?: string;
}

/** The share of the work done, in [0, 1]; no work at all counts as finished. */
export function progressFraction(done: number, total: number): number {
  return total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
}

/**
 * One line, `label [#####.....] amount`, where the amount is by unit:
 * bytes `12.0 MiB / 40.0 MiB  8.0 MiB/s  ETA 0:04`, items `12/40 (1 failed) 3.2s`,
 * percent ` 30% blk.3.attn_q.weight`.
 */
export function formatProgress(
  label: string,
  unit: ProgressUnit,
  state: ProgressState,
  width = 24,
): string {
  const filled = Math.round(progressFraction(state.done, state.total) * width);
  const bar = "#".repeat(filled) + ".".repeat(width - filled);
  const failed = state.failed ? ` (${state.failed} failed)` : "";
  const detail = state.detail ? ` ${state.detail}` : "";
  return `${label} [${bar}] ${counts(unit, state)}${failed}${tail(unit, state)}${detail}`;
}

function counts(unit: ProgressUnit, { done, total }: ProgressState): string {
  switch (unit) {
    case "bytes":
      return `${formatBytes(done, 1)} / ${formatBytes(total, 1)}`;
    case "items":
      return `${done}/${total}`;
    case "percent":
      return `${String(Math.floor(progressFraction(done, total) * 100)).padStart(3)}%`;
  }
}

function tail(unit: ProgressUnit, { done, total, elapsedMs }: ProgressState): string {
  switch (unit) {
    case "bytes": {
      const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
      const eta = done >= total ? 0 : rate > 0 ? (total - done) / rate : Infinity;
      return `  ${formatBytes(Math.round(rate), 1)}/s  ETA ${formatDuration(eta)}`;
    }
    case "items":
      return ` ${(elapsedMs / 1000).toFixed(1)}s`;
    case "percent":
      return "";
  }
}
