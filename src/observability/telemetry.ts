/**
 * The server's telemetry, built once: the Prometheus metrics, the KPI windows with their alert
 * rules, and the alert sinks (log, webhook, the alert counter). It implements the observers of
 * observers.ts; it reads no memory and decides nothing. main.ts builds one, hands its observers
 * to the gateway, the model hosts and the guard, and closes it last.
 */
import type { Config } from "../config/index.js";
import type { Logger } from "./logger.js";
import { Metrics, type MetricsState } from "./metrics.js";
import {
  AlertManager,
  KpiRecorder,
  kpiRules,
  LogSink,
  WebhookSink,
  type AlertEvent,
  type AlertRule,
  type AlertSink,
} from "./alerts/index.js";
import type {
  BackupObserver,
  GatewayObserver,
  GuardObserver,
  ModelObserver,
  RequestObservation,
} from "./observers.js";

export interface TelemetryOptions {
  alerts: Readonly<Config["alerts"]>;
  /** The guard's warn threshold, the `memory_pressure` alert's threshold. */
  memoryWarnPercent: number;
  logger: Logger;
  /** Live state for the gauges, read at scrape time (the alerts' gauge is telemetry's own). */
  state: Omit<MetricsState, "alerts" | "backup">;
  /** A readiness probe for the availability KPI: every model ready (or unloaded on purpose). */
  ready: () => boolean;
  /** The API's address, for the `instance` field of alert events. */
  instance: () => string;
  /** This instance's id, the label of the bulwark_instance_info metric. */
  instanceId?: string;
}

/** Error codes that mean a request was refused to protect the server. */
const SHED_CODES = new Set(["memory_pressure", "queue_full", "queue_timeout"]);
/** The access limits' refusal codes, by the `limit` label of the rate-limited counter. */
/** How many alert events `recentAlerts()` keeps. */
const RECENT_ALERTS = 50;

/** The seed's KPIs now: undefined where the window holds too little data (or alerts are off). */
export interface KpiValues {
  memoryPercent?: number;
  cpuPercent?: number;
  latencyP95Ms?: number;
  errorRatePercent?: number;
  availabilityPercent?: number;
  cacheHitPercent?: number;
  modelLoadMs?: number;
  /** Tokens generated since the start, all models (a rate comes from two readings). */
  generatedTokens: number;
  /** Generation requests answered since the start. */
  generationRequests: number;
}

const KPI_RULES: Record<string, keyof KpiValues> = {
  memory_high: "memoryPercent",
  cpu_high: "cpuPercent",
  latency_p95_high: "latencyP95Ms",
  error_rate_high: "errorRatePercent",
  availability_low: "availabilityPercent",
  cache_hit_rate_low: "cacheHitPercent",
  model_load_slow: "modelLoadMs",
};

const RATE_LIMIT_CODES: Record<string, string> = {
  rate_limit_exceeded: "requests",
  tokens_rate_limit_exceeded: "tokens",
  concurrency_limit_exceeded: "concurrency",
  daily_budget_exceeded: "daily_budget",
};

export class Telemetry {
  readonly metrics: Metrics;
  /** The KPI windows, fed only while the alerts that read them are on. */
  readonly kpi: KpiRecorder | undefined;
  readonly alerts: AlertManager | undefined;
  private readonly webhook: WebhookSink | undefined;
  private everReady = false;
  private lastBackup: { lastSuccessAt: number | null; lastBytes: number | null } = {
    lastSuccessAt: null,
    lastBytes: null,
  };

  private readonly rules: AlertRule[] = [];
  private readonly recent: AlertEvent[] = [];
  private generatedTokens = 0;
  private generationRequests = 0;
  private stopProbe: () => void = () => undefined;

  constructor(private readonly o: TelemetryOptions) {
    const a = o.alerts;
    if (a.enabled) {
      this.kpi = new KpiRecorder(a.windowMs);
      const sinks: AlertSink[] = [new LogSink(o.logger.child({ component: "alerts" }))];
      if (a.webhookUrl) {
        this.webhook = new WebhookSink({
          url: a.webhookUrl,
          retries: a.webhookRetries,
          backoffMs: a.webhookBackoffMs,
          timeoutMs: a.webhookTimeoutMs,
          logger: o.logger,
          format: a.format,
          resendMs: a.alertmanagerResendMs,
        });
        sinks.push(this.webhook);
      }
      sinks.push({ send: (e) => this.metrics.alertEvent(e.alert, e.state) });
      sinks.push({ send: (e) => this.remember(e) });
      this.rules = kpiRules(this.kpi, a);
      this.alerts = new AlertManager({
        rules: this.rules,
        sinks,
        evaluateIntervalMs: a.evaluateIntervalMs,
        instance: o.instance,
      });
    }
    this.metrics = new Metrics(
      {
        ...o.state,
        alerts: () => (this.alerts?.all() ?? []).map((x) => ({ name: x.alert, firing: x.firing })),
        backup: () => this.lastBackup,
      },
      o.instanceId,
    );
  }

  /** What the model hosts report: queue time, load time, restarts. */
  readonly modelObserver: ModelObserver = {
    queueTime: (model, seconds) => this.metrics.queued(model, seconds),
    loaded: (model, seconds) => {
      this.metrics.loaded(model, seconds);
      this.kpi?.modelLoad(seconds * 1000, Date.now());
    },
    restarted: (model) => this.metrics.restarted(model),
    preempted: (model) => this.metrics.preempted(model),
    autoscaled: (model, action) => this.metrics.autoscaled(model, action),
  };

  /** What the gateway reports: every request, and inter-token gaps. */
  readonly gatewayObserver: GatewayObserver = {
    request: (o: RequestObservation, generation: boolean) => {
      this.metrics.request(o, generation);
      if (generation) {
        this.generationRequests++;
        this.generatedTokens += o.completionTokens ?? 0;
      }
      if (o.errorCode && SHED_CODES.has(o.errorCode))
        this.metrics.shedRequest(o.errorCode, o.endpoint);
      const limit = o.errorCode ? RATE_LIMIT_CODES[o.errorCode] : undefined;
      if (limit) this.metrics.rateLimit(limit);
      if (generation && o.status !== 499) {
        this.kpi?.request(o.durationSeconds * 1000, o.status, Date.now());
      }
      if (generation && o.promptTokens !== undefined && o.cachedTokens !== undefined) {
        this.kpi?.prefixCache(o.promptTokens, o.cachedTokens, Date.now());
      }
    },
    interToken: (model, seconds, tokens) => this.metrics.interToken(model, seconds, tokens),
  };

  /** What the memory guard reports: level changes, samples, refused loads. */
  readonly guardObserver: GuardObserver = {
    memoryLevel: (level, percent, pressed) => {
      this.metrics.levelChanged(level);
      this.alerts?.set("memory_pressure", pressed, {
        value: percent,
        threshold: this.o.memoryWarnPercent,
        summary: `memory pressure: ${level} (${percent.toFixed(1)}% of the limit)`,
        labels: { level },
      });
    },
    resources: (memoryPercent, cpuRatio) =>
      this.kpi?.resources(memoryPercent, cpuRatio, Date.now()),
    loadRefused: (model) => this.metrics.loadRefused(model),
  };

  /**
   * A served model file found damaged (firing) or restored from its backup (resolved): the
   * `model_integrity` alert, to the log, the webhook and /health like the KPI alerts.
   */
  modelIntegrity(event: { kind: string; model: string; version: string; message: string }): void {
    this.alerts?.set("model_integrity", event.kind !== "model_restored", {
      summary: event.message,
      labels: { model: event.model, version: event.version, kind: event.kind },
    });
  }

  /**
   * What the server's backups report: each run (metrics), the last success (its gauges), and
   * `backup_stale` when the last success is older than twice the schedule's interval.
   */
  readonly backupObserver: BackupObserver = {
    backupRun: (o) => {
      this.metrics.backupRun(o.ok, o.durationSeconds);
      if (o.ok) this.lastBackup = { lastSuccessAt: o.at, lastBytes: o.bytes };
    },
    backupStale: (stale, info) => {
      if (info.lastSuccessAt !== null && this.lastBackup.lastSuccessAt === null) {
        this.lastBackup = { ...this.lastBackup, lastSuccessAt: info.lastSuccessAt };
      }
      const ageSeconds =
        info.lastSuccessAt === null ? null : (Date.now() - info.lastSuccessAt) / 1000;
      this.alerts?.set("backup_stale", stale, {
        value: ageSeconds,
        threshold: (2 * info.intervalMs) / 1000,
        summary:
          info.lastSuccessAt === null
            ? "no successful backup yet"
            : `the last successful backup is ${Math.round(ageSeconds!)} s old, over twice the ` +
              `schedule's interval of ${Math.round(info.intervalMs / 1000)} s`,
      });
    },
  };

  /** The KPIs now, read from the alert rules' windows (the dashboard shows them). */
  kpiValues(now = Date.now()): KpiValues {
    const values: KpiValues = {
      generatedTokens: this.generatedTokens,
      generationRequests: this.generationRequests,
    };
    for (const rule of this.rules) {
      const field = KPI_RULES[rule.name];
      const value = field ? rule.value(now) : undefined;
      if (field && value !== undefined)
        (values as unknown as Record<string, number>)[field] = value;
    }
    return values;
  }

  /** The last alert events (firing and resolved), newest first. */
  recentAlerts(): AlertEvent[] {
    return [...this.recent].reverse();
  }

  private remember(event: AlertEvent): void {
    this.recent.push(event);
    if (this.recent.length > RECENT_ALERTS) this.recent.shift();
  }

  start(): void {
    if (!this.alerts) return;
    const probeTimer = setInterval(() => this.probe(), this.o.alerts.evaluateIntervalMs);
    probeTimer.unref();
    this.stopProbe = () => clearInterval(probeTimer);
    this.alerts.start();
  }

  /** A readiness probe for the availability KPI, counted from the first time all were ready. */
  private probe(): void {
    const ok = this.o.ready();
    if (ok) this.everReady = true;
    if (this.everReady) this.kpi?.probe(ok, Date.now());
  }

  async close(): Promise<void> {
    this.stopProbe();
    this.alerts?.close();
    await this.webhook?.close();
  }
}
