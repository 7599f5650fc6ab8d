/**
 * Assembles the protections that watch the whole server: the resource monitor, the memory
 * guard with its reclaim actions, load admission, the Prometheus metrics, and the KPI alerts
 * with their sinks. main.ts builds one, wraps the replica factory with it, hands its observers
 * to the model hosts and the gateway, and closes it last.
 */
import type { Config } from "../config/index.js";
import type { ReplicaFactory, ReplicaSpec } from "../engine/index.js";
import type { GatewayObserver, RequestObservation } from "../gateway/types.js";
import { Metrics, type Logger } from "../observability/index.js";
import {
  AlertManager,
  KpiRecorder,
  kpiRules,
  LogSink,
  WebhookSink,
  type AlertSink,
} from "../observability/alerts/index.js";
import type { HostObserver, ModelHost } from "../supervisor/index.js";
import { LoadAdmission } from "./admission.js";
import { ToolkitMemoryEstimator, type MemoryEstimator } from "./estimator.js";
import { levelRank } from "./levels.js";
import type { Degradation } from "./ladder.js";
import { MemoryGuard, type ReclaimTarget } from "./memory-guard.js";
import { ResourceMonitor } from "./monitor.js";
import { BudgetMemorySource, ProcProbe, SystemMemorySource } from "./proc-sources.js";
import type { MemorySource, ProcessProbe, ProcessRef } from "./readings.js";

export interface GuardRuntimeOptions {
  config: Readonly<Config>;
  logger: Logger;
  /** The model hosts, read lazily (they are built after the runtime). */
  hosts: () => readonly ModelHost[];
  /** Caches the reclaim step may empty. */
  caches: { name: string; clear(): number }[];
  /** Replaces the memory source (tests inject readings). */
  memory?: MemorySource;
  probe?: ProcessProbe;
  estimator?: MemoryEstimator;
  /** The API's address, for the `instance` field of alert events. */
  instance: () => string;
}

/** Error codes that mean a request was refused to protect the server. */
const SHED_CODES = new Set(["memory_pressure", "queue_full", "queue_timeout"]);
/** The access limits' refusal codes, by the `limit` label of the rate-limited counter. */
const RATE_LIMIT_CODES: Record<string, string> = {
  rate_limit_exceeded: "requests",
  tokens_rate_limit_exceeded: "tokens",
  concurrency_limit_exceeded: "concurrency",
  daily_budget_exceeded: "daily_budget",
};

export class GuardRuntime {
  readonly metrics: Metrics;
  /** The KPI windows, fed only while the alerts that read them are on. */
  readonly kpi: KpiRecorder | undefined;
  readonly alerts: AlertManager | undefined;
  readonly monitor: ResourceMonitor | undefined;
  readonly guard: MemoryGuard | undefined;
  readonly admission: LoadAdmission | undefined;
  /** The memory reading and the load estimate of admission, for the registry's check too. */
  readonly memory: MemorySource | undefined;
  readonly estimator: MemoryEstimator;
  private readonly webhook: WebhookSink | undefined;
  private everReady = false;

  constructor(private readonly o: GuardRuntimeOptions) {
    const { config, logger } = o;
    const g = config.guards;
    const a = config.alerts;
    this.estimator = o.estimator ?? new ToolkitMemoryEstimator(g.workerOverheadBytes);
    if (a.enabled) {
      this.kpi = new KpiRecorder(a.windowMs);
      const sinks: AlertSink[] = [new LogSink(logger.child({ component: "alerts" }))];
      if (a.webhookUrl) {
        this.webhook = new WebhookSink({
          url: a.webhookUrl,
          retries: a.webhookRetries,
          backoffMs: a.webhookBackoffMs,
          timeoutMs: a.webhookTimeoutMs,
          logger,
        });
        sinks.push(this.webhook);
      }
      sinks.push({ send: (e) => this.metrics.alertEvent(e.alert, e.state) });
      this.alerts = new AlertManager({
        rules: kpiRules(this.kpi, a),
        sinks,
        evaluateIntervalMs: a.evaluateIntervalMs,
        instance: o.instance,
      });
    }
    if (g.enabled) {
      const probe = o.probe ?? new ProcProbe();
      let monitor: ResourceMonitor | undefined = undefined;
      const memory =
        o.memory ??
        (g.memoryBudgetBytes > 0
          ? new BudgetMemorySource(g.memoryBudgetBytes, () => monitor?.ownRssBytes() ?? 0)
          : new SystemMemorySource());
      this.memory = memory;
      monitor = new ResourceMonitor({
        memory,
        probe,
        processes: () => this.processes(),
        intervalMs: g.sampleIntervalMs,
      });
      this.monitor = monitor;
      this.guard = new MemoryGuard({
        ...g,
        ladders: Object.fromEntries(g.ladder.map((l) => [l.model, l])),
        reclaim: this.reclaimTarget(),
        logger,
        onLadder: (model, before, after) => {
          const spec = (d: Degradation) => [d.slots, d.contextSize, d.variantPath].join("|");
          if (spec(before) === spec(after)) return;
          const fits = (spec: ReplicaSpec, freedBytes: number) =>
            this.admission!.fitsAfterFreeing(spec, freedBytes);
          for (const h of this.o.hosts()) if (h.name === model) h.renewWorkers(fits);
        },
        onLevel: (change) => {
          this.metrics.levelChanged(change.to);
          this.alerts?.set("memory_pressure", levelRank(change.to) > 0, {
            value: change.percent,
            threshold: g.warnPercent,
            summary: `memory pressure: ${change.to} (${change.percent.toFixed(1)}% of the limit)`,
            labels: { level: change.to },
          });
        },
      });
      monitor.onSample((sample) => {
        this.guard!.observe(sample);
        this.kpi?.resources(sample.memoryPercent, sample.cpuRatio, Date.now());
      });
      this.admission = new LoadAdmission({
        estimator: this.estimator,
        // Read fresh: a load often follows a worker's exit that the last sample predates.
        memory: () => memory.read(),
        warnPercent: g.warnPercent,
        adjust: (spec) => this.guard!.adjustSpec(spec),
        onRefused: (spec, err) => {
          this.metrics.loadRefused(spec.modelName);
          logger.warn(
            { model: spec.modelName, replica: spec.id, err: err.message },
            "model load refused",
          );
        },
      });
    }
    this.metrics = new Metrics({
      models: () =>
        o.hosts().map((h) => {
          const s = h.status();
          return {
            name: s.name,
            running: s.slots.busy,
            waiting: s.queue.waiting,
            busySlots: s.slots.busy,
            totalSlots: s.slots.total,
            ready: s.ready,
            unloaded: s.unloaded,
          };
        }),
      resources: () => {
        const s = this.monitor?.last();
        if (!s) return undefined;
        return {
          memoryUsedBytes: s.memory.usedBytes,
          memoryLimitBytes: s.memory.limitBytes,
          cpuRatio: s.cpuRatio,
          processes: s.processes,
        };
      },
      guardLevel: () => (this.guard ? levelRank(this.guard.level) : 0),
      degradationSteps: () =>
        config.guards.ladder.map((l) => ({
          model: l.model,
          step: this.guard?.degradation(l.model).step ?? 0,
        })),
      alerts: () => (this.alerts?.all() ?? []).map((x) => ({ name: x.alert, firing: x.firing })),
    });
  }

  /** The processes the monitor samples: the gateway and every live worker. */
  private processes(): ProcessRef[] {
    const refs: ProcessRef[] = [{ role: "gateway", pid: process.pid }];
    for (const host of this.o.hosts()) {
      for (const r of host.status().replicas) {
        if (r.state === "stopped" || r.state === "unloaded" || r.state === "dead") continue;
        refs.push({
          role: "worker",
          pid: r.pid,
          model: host.name,
          replica: r.id,
          reportedRssBytes: r.rssBytes,
        });
      }
    }
    return refs;
  }

  private reclaimTarget(): ReclaimTarget {
    return {
      clearCaches: () => this.o.caches.filter((c) => c.clear() >= 0).map((c) => c.name),
      unloadIdle: () => this.o.hosts().flatMap((h) => h.unloadIdle(1)),
      unloadIdleModel: () => {
        if (!this.o.config.guards.unloadIdleModels) return undefined;
        const idle = this.o
          .hosts()
          .filter((h) => !h.isUnloaded())
          .map((h) => ({ h, since: h.idleSince() }))
          .filter((x): x is { h: ModelHost; since: number } => x.since !== undefined)
          .sort((x, y) => x.since - y.since);
        for (const { h } of idle) if (h.unloadModel()) return h.name;
        return undefined;
      },
      stopLargestWorker: () => {
        const workers = (this.monitor?.last()?.processes ?? []).filter(
          (p) => p.role === "worker" && p.replica,
        );
        workers.sort((x, y) => y.rssBytes - x.rssBytes);
        for (const w of workers) {
          const host = this.o.hosts().find((h) => h.name === w.model);
          if (host?.killReplica(w.replica!, "stopped to free memory (reclaim)")) {
            return { model: w.model!, replica: w.replica!, rssBytes: w.rssBytes };
          }
        }
        return undefined;
      },
      reloadUnloaded: () => {
        for (const h of this.o.hosts()) h.reloadUnloaded();
      },
    };
  }

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

  /** Wraps the replica factory with load admission (when the guard is on). */
  wrapFactory(factory: ReplicaFactory): ReplicaFactory {
    return this.admission ? this.admission.wrap(factory) : factory;
  }

  /** What the model hosts report: queue time, load time, restarts. */
  readonly hostObserver: HostObserver = {
    queueTime: (model, seconds) => this.metrics.queued(model, seconds),
    loaded: (model, seconds) => {
      this.metrics.loaded(model, seconds);
      this.kpi?.modelLoad(seconds * 1000, Date.now());
    },
    restarted: (model) => this.metrics.restarted(model),
  };

  /** What the gateway reports: every request, and inter-token gaps. */
  readonly gatewayObserver: GatewayObserver = {
    request: (o: RequestObservation, generation: boolean) => {
      this.metrics.request(o, generation);
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

  start(): void {
    this.monitor?.start();
    if (this.alerts) {
      const probeTimer = setInterval(() => this.probe(), this.o.config.alerts.evaluateIntervalMs);
      probeTimer.unref();
      this.stopProbe = () => clearInterval(probeTimer);
      this.alerts.start();
    }
  }

  private stopProbe: () => void = () => undefined;

  /** A readiness probe for the availability KPI, counted from the first time all were ready. */
  private probe(): void {
    const hosts = this.o.hosts();
    const ok = hosts.length > 0 && hosts.every((h) => h.isReady() || h.isUnloaded());
    if (ok) this.everReady = true;
    if (this.everReady) this.kpi?.probe(ok, Date.now());
  }

  async close(): Promise<void> {
    this.stopProbe();
    this.monitor?.close();
    this.alerts?.close();
    await this.webhook?.close();
  }
}
