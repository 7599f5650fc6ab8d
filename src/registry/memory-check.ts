/**
 * The memory check before a load: the estimate of weights plus KV cache, added to the memory in
 * use now, must stay under the threshold. Memory is read as the memory guard reads it: the
 * cgroup when it has a limit (a container), else /proc/meminfo.
 */
import { BulwarkError } from "../errors/index.js";
import { SystemMemorySource } from "../guards/index.js";
import { formatBytes } from "./progress.js";

export interface MemoryReading {
  totalBytes: number;
  usedBytes: number;
  source: string;
}

/** Where the current memory figures come from; tests pass a fixed one. */
export interface MemoryProbe {
  read(): MemoryReading | Promise<MemoryReading>;
}

const system = new SystemMemorySource();

/** The memory guard's reading (cgroup v2 working set when limited, else /proc/meminfo). */
export const systemMemoryProbe: MemoryProbe = {
  async read() {
    const r = await system.read();
    return { totalBytes: r.limitBytes, usedBytes: r.usedBytes, source: r.source };
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
