/**
 * The seed's KPIs as alert rules over sliding windows: memory, CPU, P95 latency, error rate,
 * availability, cache hit rate and model load time. The recorder is fed by the gateway, the
 * supervisor and the monitor; each rule reads it at evaluation time.
 */
import { mean, percentWhere, quantile, SlidingWindow } from "./window.js";
import type { AlertRule } from "./types.js";

export interface KpiThresholds {
  windowMs: number;
  memoryPercent: number;
  cpuPercent: number;
  latencyP95Ms: number;
  errorRatePercent: number;
  availabilityPercent: number;
  cacheHitPercent: number;
  modelLoadMs: number;
  minSamples: number;
}

export class KpiRecorder {
  readonly requests: SlidingWindow<{ ms: number; error: boolean }>;
  readonly cpu: SlidingWindow<number>;
  readonly probes: SlidingWindow<boolean>;
  /**
   * Per generation: its prompt tokens, and those a cache spared the engine: the prefix found in
   * a slot's KV cache, or all of them when the response cache answered.
   */
  readonly cache: SlidingWindow<{ queried: number; hit: number }>;
  readonly loads: SlidingWindow<number>;
  memoryPercent: number | undefined;

  constructor(windowMs: number) {
    this.requests = new SlidingWindow(windowMs);
    this.cpu = new SlidingWindow(windowMs);
    this.probes = new SlidingWindow(windowMs);
    this.cache = new SlidingWindow(windowMs);
    this.loads = new SlidingWindow(windowMs);
  }

  /** A generation request ended: its end-to-end time and whether it failed with a 5xx. */
  request(ms: number, status: number, now: number): void {
    this.requests.push({ ms, error: status >= 500 }, now);
  }

  resources(memoryPercent: number, cpuRatio: number, now: number): void {
    this.memoryPercent = memoryPercent;
    this.cpu.push(cpuRatio * 100, now);
  }

  /** A readiness probe: true when every model had a ready worker. */
  probe(ok: boolean, now: number): void {
    this.probes.push(ok, now);
  }

  /** A generation's prompt met the caches: `hit` of its `queried` tokens were cached. */
  prefixCache(queried: number, hit: number, now: number): void {
    if (queried > 0) this.cache.push({ queried, hit }, now);
  }

  modelLoad(ms: number, now: number): void {
    this.loads.push(ms, now);
  }
}

/** The seven KPI rules. A rule without enough data in its window does not fire. */
export function kpiRules(k: KpiRecorder, t: KpiThresholds): AlertRule[] {
  const enough = <T>(values: T[]) => values.length >= t.minSamples;
  return [
    {
      name: "memory_high",
      summary: `memory use above ${t.memoryPercent}%`,
      threshold: t.memoryPercent,
      value: () => k.memoryPercent,
      firing: (v) => v > t.memoryPercent,
    },
    {
      name: "cpu_high",
      summary: `machine CPU above ${t.cpuPercent}% on average over the window`,
      threshold: t.cpuPercent,
      value: (now) => mean(k.cpu.values(now)),
      firing: (v) => v > t.cpuPercent,
    },
    {
      name: "latency_p95_high",
      summary: `P95 end-to-end latency of generation requests above ${t.latencyP95Ms} ms`,
      threshold: t.latencyP95Ms,
      value: (now) => {
        const r = k.requests.values(now);
        return enough(r)
          ? quantile(
              r.map((x) => x.ms),
              0.95,
            )
          : undefined;
      },
      firing: (v) => v > t.latencyP95Ms,
    },
    {
      name: "error_rate_high",
      summary: `more than ${t.errorRatePercent}% of generation requests failed with 5xx`,
      threshold: t.errorRatePercent,
      value: (now) => {
        const r = k.requests.values(now);
        return enough(r) ? percentWhere(r, (x) => x.error) : undefined;
      },
      firing: (v) => v > t.errorRatePercent,
    },
    {
      name: "availability_low",
      summary: `fewer than ${t.availabilityPercent}% of readiness probes succeeded`,
      threshold: t.availabilityPercent,
      value: (now) => percentWhere(k.probes.values(now), (ok) => ok),
      firing: (v) => v < t.availabilityPercent,
    },
    {
      name: "cache_hit_rate_low",
      summary: `cache hit rate (prefix and response caches) below ${t.cacheHitPercent}% of prompt tokens`,
      threshold: t.cacheHitPercent,
      value: (now) => {
        const c = k.cache.values(now);
        if (!enough(c)) return undefined;
        const queried = c.reduce((n, x) => n + x.queried, 0);
        return (c.reduce((n, x) => n + x.hit, 0) / queried) * 100;
      },
      firing: (v) => v < t.cacheHitPercent,
    },
    {
      name: "model_load_slow",
      summary: `a model load took longer than ${t.modelLoadMs} ms`,
      threshold: t.modelLoadMs,
      value: (now) => {
        const l = k.loads.values(now);
        return l.length > 0 ? Math.max(...l) : undefined;
      },
      firing: (v) => v > t.modelLoadMs,
    },
  ];
}
