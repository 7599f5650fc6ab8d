/**
 * Draws a progress line on stderr: redrawn in place on a terminal at most 10 times a second,
 * and a plain line per tenth of the work elsewhere, so logs and CI keep a short record instead
 * of thousands of lines. The text comes from `formatProgress`; the clock is injected for tests.
 */
import { formatProgress, progressFraction, type ProgressUnit } from "./progress-format.js";

/** Where the line goes: stderr, or anything that writes text. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  /** The terminal's width: a longer line is cut so that `\r` still returns to its start. */
  columns?: number;
}

export interface ProgressDisplay {
  /** Reports the counters; `extra` adds failures or what is being worked on now. */
  update(done: number, total: number, extra?: { failed?: number; detail?: string }): void;
  /** Ends the line on a terminal; call once the work is over. */
  end(): void;
}

export interface ProgressDisplayOptions {
  sink?: ProgressSink;
  now?: () => number;
  /** Characters in the bar (24). */
  width?: number;
}

/** A terminal redraws at most every 100 ms: faster is flicker, and costs the work's time. */
const REDRAW_MS = 100;

/** A progress display for one piece of work named `label`, counted in `unit`. */
export function progressDisplay(
  label: string,
  unit: ProgressUnit,
  { sink = process.stderr, now = Date.now, width }: ProgressDisplayOptions = {},
): ProgressDisplay {
  // The clock starts at the first report, so work done before it (such as validating the
  // input) does not lower the rate.
  let started: number | undefined;
  let lastDraw = -Infinity;
  let lastTenth = -1;
  let drawnLength = 0;
  const update: ProgressDisplay["update"] = (done, total, extra = {}) => {
    const t = now();
    started ??= t;
    const finished = done >= total;
    if (sink.isTTY) {
      if (t - lastDraw < REDRAW_MS && !finished) return;
    } else {
      const tenth = Math.floor(progressFraction(done, total) * 10);
      if (tenth <= lastTenth) return;
      lastTenth = tenth;
    }
    lastDraw = t;
    const line = formatProgress(
      label,
      unit,
      { done, total, elapsedMs: t - started, ...extra },
      width,
    );
    if (!sink.isTTY) {
      sink.write(`${line}\n`);
      return;
    }
    // Spaces clear what a longer previous line left behind.
    const fitted = line.slice(0, Math.max(20, (sink.columns ?? 100) - 1));
    sink.write(`\r${fitted.padEnd(drawnLength)}`);
    drawnLength = fitted.length;
  };
  return {
    update,
    end() {
      if (sink.isTTY && drawnLength > 0) sink.write("\n");
    },
  };
}
