/**
 * The progress bar long registry work shows on stderr: bytes, rate and time left. The formatting
 * is a pure function of the counters and an injected clock; the writer redraws at most 10 times
 * a second and prints plain lines when stderr is not a terminal.
 */
import { formatBytes as formatBytesWith } from "../models/index.js";

/** Sizes with one decimal, as the registry prints them. */
export function formatBytes(n: number): string {
  return formatBytesWith(n, 1);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** One line: `label [#####.....] 12.0 MiB / 40.0 MiB  8.0 MiB/s  ETA 0:04`. */
export function formatProgress(
  label: string,
  done: number,
  total: number,
  elapsedMs: number,
  width = 24,
): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const bar = "#".repeat(filled) + ".".repeat(width - filled);
  const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  return (
    `${label} [${bar}] ${formatBytes(done)} / ${formatBytes(total)}  ` +
    `${formatBytes(Math.round(rate))}/s  ETA ${formatDuration(done >= total ? 0 : eta)}`
  );
}

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** A progress callback that draws on `sink` (stderr by default). */
export function progressBar(
  label: string,
  sink: ProgressSink = process.stderr,
  now: () => number = Date.now,
): { update: (done: number, total: number) => void; end: () => void } {
  // The clock starts at the first byte, so work done before it (validation) does not lower the rate.
  let started: number | undefined;
  let last = -Infinity;
  let lastLine = "";
  const interval = sink.isTTY ? 100 : 2_000;
  return {
    update(done, total) {
      const t = now();
      started ??= t;
      if (t - last < interval && done < total) return;
      last = t;
      lastLine = formatProgress(label, done, total, t - started);
      sink.write(sink.isTTY ? `\r${lastLine}` : `${lastLine}\n`);
    },
    end() {
      if (sink.isTTY && lastLine) sink.write("\n");
    },
  };
}
