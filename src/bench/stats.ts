/**
 * Summary statistics as `vllm bench serve` computes them with numpy: the mean, the median, the
 * population standard deviation (np.std, ddof 0) and percentiles with linear interpolation
 * between the two nearest ranks (np.percentile's default method).
 */

/** The percentiles every latency metric reports. */
export const PERCENTILES = [50, 90, 95, 99] as const;

export interface Summary {
  count: number;
  mean: number;
  median: number;
  std: number;
  min: number;
  max: number;
  /** Keyed "p50", "p90", "p95", "p99". */
  percentiles: Record<string, number>;
}

/**
 * The p-th percentile (0..100) of already sorted values, interpolating linearly: the rank is
 * p/100 × (n − 1) and the result lies between the values at floor(rank) and ceil(rank).
 */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  if (p < 0 || p > 100 || Number.isNaN(p)) throw new RangeError(`percentile ${p} is not in 0..100`);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

/** The p-th percentile of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  return percentileSorted(
    [...values].sort((x, y) => x - y),
    p,
  );
}

/** Mean, median, population std, min, max and the PERCENTILES; all 0 for no values (as vLLM). */
export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  const sorted = [...values].sort((x, y) => x - y);
  const mean = n === 0 ? 0 : sorted.reduce((s, v) => s + v, 0) / n;
  const variance = n === 0 ? 0 : sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  const percentiles: Record<string, number> = {};
  for (const p of PERCENTILES) percentiles[`p${p}`] = percentileSorted(sorted, p);
  return {
    count: n,
    mean,
    median: percentileSorted(sorted, 50),
    std: Math.sqrt(variance),
    min: n === 0 ? 0 : sorted[0]!,
    max: n === 0 ? 0 : sorted[n - 1]!,
    percentiles,
  };
}
