/**
 * What the dashboard shows live: one snapshot of the server (KPIs against their thresholds,
 * models and replicas, the registry's versions, the guard and its ladder, alerts) taken every
 * `sampleMs` for every open page at once, and the last hour of KPI samples kept in a ring so a
 * page that opens gets its charts from memory, not from a query. The SSE route sends both.
 */
import type { KpiThresholds, KpiValues } from "../observability/index.js";
import type { ModelStatus } from "../engine/index.js";

/** A KPI's target: `max` (stay below) or `min` (stay above). */
export interface KpiTarget {
  key: string;
  label: string;
  unit: string;
  max?: number;
  min?: number;
}

/** One point of the last hour: the KPIs at a time (null: too little data). */
export interface KpiSample {
  at: number;
  values: Record<string, number | null>;
}

export interface FeedSources {
  kpis(): KpiValues;
  /** The KPI targets, as the alert rules use them. */
  thresholds: Omit<KpiThresholds, "windowMs" | "minSamples">;
  models(): ModelStatus[];
  /** The registry's versions and what serves from it; empty without a registry. */
  registry(): {
    versions: { name: string; version: string; aliases: string[]; createdAt: string }[];
    serving: { model: string; name: string; version: string }[];
  };
  guard(): object | undefined;
  alerts(): { firing: object[]; all: object[]; recent: object[] };
}

export interface Snapshot {
  at: number;
  kpis: { targets: KpiTarget[]; values: Record<string, number | null> };
  models: ModelStatus[];
  registry: ReturnType<FeedSources["registry"]>;
  guard: object | undefined;
  alerts: ReturnType<FeedSources["alerts"]>;
}

/** The seed's eight KPIs and their targets, from the alert thresholds. */
export function kpiTargets(t: FeedSources["thresholds"]): KpiTarget[] {
  return [
    { key: "memory", label: "Memory", unit: "%", max: t.memoryPercent },
    { key: "cpu", label: "CPU", unit: "%", max: t.cpuPercent },
    { key: "p95", label: "P95 latency", unit: "ms", max: t.latencyP95Ms },
    { key: "errors", label: "Errors", unit: "%", max: t.errorRatePercent },
    { key: "availability", label: "Availability", unit: "%", min: t.availabilityPercent },
    { key: "tokensPerSecond", label: "Tokens/s", unit: "tok/s" },
    { key: "cacheHit", label: "Cache hit", unit: "%", min: t.cacheHitPercent },
    { key: "modelLoad", label: "Model load", unit: "ms", max: t.modelLoadMs },
  ];
}

const round = (v: number | undefined, digits = 1): number | null =>
  v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(digits));

export interface FeedOptions {
  sampleMs: number;
  /** How much history the ring keeps, in ms (the charts' span: an hour). */
  historyMs: number;
  now?: () => number;
}

export class DashboardFeed {
  private readonly history: KpiSample[] = [];
  private readonly listeners = new Set<(snapshot: Snapshot) => void>();
  private timer: NodeJS.Timeout | undefined;
  private last: { at: number; tokens: number } | undefined;
  private latest: Snapshot | undefined;
  private readonly now: () => number;
  private readonly targets: KpiTarget[];

  constructor(
    private readonly sources: FeedSources,
    private readonly o: FeedOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.targets = kpiTargets(sources.thresholds);
  }

  /** Samples now and then every `sampleMs`, until close(). */
  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.o.sampleMs);
    this.timer.unref();
  }

  /** Takes one snapshot, adds its KPIs to the history and sends it to every open page. */
  sample(): Snapshot {
    const at = this.now();
    const k = this.sources.kpis();
    const tokensPerSecond =
      this.last && at > this.last.at
        ? ((k.generatedTokens - this.last.tokens) * 1000) / (at - this.last.at)
        : undefined;
    this.last = { at, tokens: k.generatedTokens };
    const values = {
      memory: round(k.memoryPercent),
      cpu: round(k.cpuPercent),
      p95: round(k.latencyP95Ms, 0),
      errors: round(k.errorRatePercent, 2),
      availability: round(k.availabilityPercent, 3),
      tokensPerSecond: round(tokensPerSecond),
      cacheHit: round(k.cacheHitPercent),
      modelLoad: round(k.modelLoadMs, 0),
    };
    this.history.push({ at, values });
    while (this.history.length > 0 && this.history[0]!.at < at - this.o.historyMs) {
      this.history.shift();
    }
    const snapshot: Snapshot = {
      at,
      kpis: { targets: this.targets, values },
      models: this.sources.models(),
      registry: this.sources.registry(),
      guard: this.sources.guard(),
      alerts: this.sources.alerts(),
    };
    this.latest = snapshot;
    for (const send of this.listeners) send(snapshot);
    return snapshot;
  }

  /** The last hour of KPI samples, oldest first. */
  kpiHistory(): KpiSample[] {
    return [...this.history];
  }

  /** The latest snapshot (one is taken if none was). */
  current(): Snapshot {
    return this.latest ?? this.sample();
  }

  /** Calls `send` with each snapshot until the returned function is called. */
  subscribe(send: (snapshot: Snapshot) => void): () => void {
    this.listeners.add(send);
    return () => this.listeners.delete(send);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }
}
