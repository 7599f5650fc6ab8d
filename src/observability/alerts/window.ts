/**
 * A sliding time window of samples and the statistics the KPI rules need. Pure: every call
 * takes the time, so tests drive it with a fake clock.
 */
export class SlidingWindow<T> {
  private items: { at: number; value: T }[] = [];

  constructor(
    private readonly spanMs: number,
    /** Bound on memory: the oldest samples go first past it. */
    private readonly maxItems = 100_000,
  ) {}

  push(value: T, now: number): void {
    this.items.push({ at: now, value });
    if (this.items.length > this.maxItems) this.items.shift();
  }

  /** The samples no older than the span. */
  values(now: number): T[] {
    const from = now - this.spanMs;
    let i = 0;
    while (i < this.items.length && this.items[i]!.at < from) i++;
    if (i > 0) this.items = this.items.slice(i);
    return this.items.map((e) => e.value);
  }
}

/** The q-quantile (0..1) by the nearest-rank method; undefined for no samples. */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Share of samples for which `pick` holds, as a percent; undefined for no samples. */
export function percentWhere<T>(values: readonly T[], pick: (v: T) => boolean): number | undefined {
  if (values.length === 0) return undefined;
  return (values.filter(pick).length / values.length) * 100;
}
