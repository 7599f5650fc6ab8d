/**
 * The memory check before a load: the estimate of weights plus KV cache, added to the memory in
 * use now, must stay under the threshold. Memory comes from the cgroup when it has a limit
 * (a container), else from /proc/meminfo.
 */
import { readFileSync } from "node:fs";
import { totalmem, freemem } from "node:os";
import { BulwarkError } from "../errors/index.js";
import { formatBytes } from "./progress.js";

export interface MemoryReading {
  totalBytes: number;
  usedBytes: number;
  source: string;
}

/** Where the current memory figures come from; tests pass a fixed one. */
export interface MemoryProbe {
  read(): MemoryReading;
}

function readNumber(path: string): number | undefined {
  try {
    const text = readFileSync(path, "utf8").trim();
    const n = Number(text);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** cgroup v2 limit when one is set, else MemTotal − MemAvailable from /proc/meminfo. */
export const systemMemoryProbe: MemoryProbe = {
  read() {
    const limit = readNumber("/sys/fs/cgroup/memory.max");
    const current = readNumber("/sys/fs/cgroup/memory.current");
    if (limit !== undefined && current !== undefined && limit < totalmem()) {
      return { totalBytes: limit, usedBytes: current, source: "cgroup" };
    }
    try {
      const info = readFileSync("/proc/meminfo", "utf8");
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(info)?.[1]);
      const total = kb("MemTotal") * 1024;
      const available = kb("MemAvailable") * 1024;
      if (Number.isFinite(total) && Number.isFinite(available)) {
        return { totalBytes: total, usedBytes: total - available, source: "meminfo" };
      }
    } catch {
      // Not Linux: fall back to what Node reports.
    }
    return { totalBytes: totalmem(), usedBytes: totalmem() - freemem(), source: "os" };
  },
};

export interface MemoryVerdict {
  ok: boolean;
  estimateBytes: number;
  usedBytes: number;
  totalBytes: number;
  limitBytes: number;
  percent: number;
}

/** Pure: does `estimate` fit next to what is used, under `percent` of the total? */
export function judgeLoad(
  estimate: number,
  reading: MemoryReading,
  percent: number,
): MemoryVerdict {
  const limit = Math.floor((reading.totalBytes * percent) / 100);
  return {
    ok: reading.usedBytes + estimate <= limit,
    estimateBytes: estimate,
    usedBytes: reading.usedBytes,
    totalBytes: reading.totalBytes,
    limitBytes: limit,
    percent,
  };
}

/** Throws insufficient_memory, with the numbers, when the load does not fit. */
export function assertLoadFits(model: string, verdict: MemoryVerdict): void {
  if (verdict.ok) return;
  throw new BulwarkError(
    "insufficient_memory",
    `refusing to load ${model}: it needs about ${formatBytes(verdict.estimateBytes)} ` +
      `(weights + KV cache), ${formatBytes(verdict.usedBytes)} is in use, and together they ` +
      `exceed ${verdict.percent}% of ${formatBytes(verdict.totalBytes)} ` +
      `(${formatBytes(verdict.limitBytes)})`,
  );
}
