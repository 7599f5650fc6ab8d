/**
 * Prometheus metrics (prom-client), on a registry of their own. Names follow vLLM's where vLLM
 * has one (vllm:time_to_first_token_seconds → bulwark_time_to_first_token_seconds), with the
 * bulwark_ prefix; docs/operations.md lists every metric. Every metric is declared once in the
 * tables below (name, type, help, labels, buckets) and the registry is built from them. Gauges
 * that mirror live state (queue depth, busy slots, memory) are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RequestObservation } from "./observers.js";

/** Live state the gauges read at scrape time. */
export interface MetricsState {
  models(): {
    name: string;
    running: number;
    waiting: number;
    busySlots: number;
    totalSlots: number;
    ready: boolean;
    unloaded: boolean;
  }[];
  resources():
    | {
        memoryUsedBytes: number;
        memoryLimitBytes: number;
        cpuRatio: number;
        processes: {
          role: string;
          model?: string;
          replica?: string;
          pid: number | null;
          rssBytes: number;
          cpuSeconds: number;
          cpuRatio: number;
        }[];
      }
    | undefined;
  guardLevel(): number;
  /** 1 while the state backend (limits, bans, revocations) can be reached; memory is always 1. */
  stateBackendUp?(): number;
  degradationSteps(): { model: string; step: number }[];
  alerts(): { name: string; firing: boolean }[];
  /** The server's last successful backup, if it took one (or found one at start). */
  backup?(): { lastSuccessAt: number | null; lastBytes: number | null };
  /** Every remote backend of every model. */
  backends?(): {
    model: string;
    backend: string;
    up: boolean;
    inFlight: number;
    latencyMs: number | null;
  }[];
}

const LATENCY_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640,
];
const ITL_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1, 2.5, 5];
const TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];
const LOAD_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

/** A counter or histogram, moved by the events below. */
interface EventMetric {
  name: string;
  type: "counter" | "histogram";
  help: string;
  labels: readonly string[];
  buckets?: readonly number[];
}

/** The event metrics, in exposition order. */
const EVENT_METRICS = {
  httpRequests: {
    name: "bulwark_http_requests_total",
    type: "counter",
    help: "HTTP requests answered, by route, model and status code.",
    labels: ["endpoint", "model", "status"],
  },
  success: {
    name: "bulwark_request_success_total",
    type: "counter",
    help: "Generation requests that finished, by finish reason (vLLM: request_success_total).",
    labels: ["model", "finished_reason"],
  },
  promptTokens: {
    name: "bulwark_prompt_tokens_total",
    type: "counter",
    help: "Prompt tokens of generation requests.",
    labels: ["model"],
  },
  generationTokens: {
    name: "bulwark_generation_tokens_total",
    type: "counter",
    help: "Tokens generated.",
    labels: ["model"],
  },
  promptHist: {
    name: "bulwark_request_prompt_tokens",
    type: "histogram",
    help: "Prompt tokens per request.",
    labels: ["model"],
    buckets: TOKEN_BUCKETS,
  },
  generationHist: {
    name: "bulwark_request_generation_tokens",
    type: "histogram",
    help: "Generated tokens per request.",
    labels: ["model"],
    buckets: TOKEN_BUCKETS,
  },
  ttft: {
    name: "bulwark_time_to_first_token_seconds",
    type: "histogram",
    help: "Time from the request's arrival to its first generated token, in seconds.",
    labels: ["model"],
    buckets: LATENCY_BUCKETS,
  },
  itl: {
    name: "bulwark_inter_token_latency_seconds",
    type: "histogram",
    help: "Time between consecutive generated tokens, in seconds.",
    labels: ["model"],
    buckets: ITL_BUCKETS,
  },
  e2e: {
    name: "bulwark_e2e_request_latency_seconds",
    type: "histogram",
    help: "End-to-end latency of generation requests, arrival to last byte, in seconds.",
    labels: ["model", "endpoint"],
    buckets: LATENCY_BUCKETS,
  },
  queueTime: {
    name: "bulwark_request_queue_time_seconds",
    type: "histogram",
    help: "Time a request waited in the model's queue before a slot took it, in seconds.",
    labels: ["model"],
    buckets: LATENCY_BUCKETS,
  },
  preemptions: {
    name: "bulwark_batch_preemptions_total",
    type: "counter",
    help: "Batch lines that gave their slot to a waiting interactive request and went on later.",
    labels: ["model"],
  },
  batchLines: {
    name: "bulwark_batch_lines_total",
    type: "counter",
    help: "Batch lines the runner ended, by outcome (completed, failed, retried).",
    labels: ["outcome"],
  },
  backendRequests: {
    name: "bulwark_backend_requests_total",
    type: "counter",
    help:
      "Requests that ended on a remote backend, by outcome: ok, failure (connection, timeout, " +
      "5xx, unreadable answer; counts toward ejection) or client_error (the backend refused " +
      "the request itself).",
    labels: ["model", "backend", "outcome"],
  },
  backendEjections: {
    name: "bulwark_backend_ejections_total",
    type: "counter",
    help: "Times a remote backend was taken out of service (circuit opened).",
    labels: ["model", "backend"],
  },
  restarts: {
    name: "bulwark_worker_restarts_total",
    type: "counter",
    help: "Engine workers restarted after dying, being killed or being refused a load.",
    labels: ["model"],
  },
  autoscaleDecisions: {
    name: "bulwark_autoscale_decisions_total",
    type: "counter",
    help: "Decisions of the replica autoscaler: up, down, or up_refused by memory admission.",
    labels: ["model", "action"],
  },
  loadSeconds: {
    name: "bulwark_model_load_seconds",
    type: "histogram",
    help: "Time from a worker's spawn to its model being ready, in seconds.",
    labels: ["model"],
    buckets: LOAD_BUCKETS,
  },
  loadsRefused: {
    name: "bulwark_model_loads_refused_total",
    type: "counter",
    help: "Model or replica loads refused because memory would cross the warn threshold.",
    labels: ["model"],
  },
  shed: {
    name: "bulwark_requests_shed_total",
    type: "counter",
    help: "Requests refused to protect the server (memory_pressure, queue_full, queue_timeout).",
    labels: ["reason", "endpoint"],
  },
  rateLimited: {
    name: "bulwark_requests_rate_limited_total",
    type: "counter",
    help: "Requests refused by a rate limit.",
    labels: ["limit"],
  },
  prefixQueries: {
    name: "bulwark_prefix_cache_queries_total",
    type: "counter",
    help: "Prompt tokens looked up in the slots' KV caches (vLLM: prefix_cache_queries).",
    labels: ["model"],
  },
  prefixHits: {
    name: "bulwark_prefix_cache_hits_total",
    type: "counter",
    help: "Prompt tokens found in a slot's KV cache, not evaluated again (vLLM: prefix_cache_hits).",
    labels: ["model"],
  },
  cacheHits: {
    name: "bulwark_cache_hits_total",
    type: "counter",
    help: "Lookups in a cache of the gateway (compiled grammars) that found an entry.",
    labels: ["cache"],
  },
  cacheMisses: {
    name: "bulwark_cache_misses_total",
    type: "counter",
    help: "Cache lookups that found nothing.",
    labels: ["cache"],
  },
  responseCacheLookups: {
    name: "bulwark_response_cache_lookups_total",
    type: "counter",
    help: "Lookups in the response cache, by kind (exact, semantic).",
    labels: ["kind"],
  },
  responseCacheHits: {
    name: "bulwark_response_cache_hits_total",
    type: "counter",
    help: "Response cache lookups answered from a stored answer, by kind (exact, semantic).",
    labels: ["kind"],
  },
  responseCachePromptTokens: {
    name: "bulwark_response_cache_prompt_tokens_total",
    type: "counter",
    help: "Prompt tokens of generation requests answered from the response cache (no engine ran).",
    labels: ["model"],
  },
  responseCacheSharedErrors: {
    name: "bulwark_response_cache_shared_errors_total",
    type: "counter",
    help: "Calls to the response cache's shared tier (Redis) that failed or timed out, by op; each was a miss.",
    labels: ["op"],
  },
  responseCacheStores: {
    name: "bulwark_response_cache_stores_total",
    type: "counter",
    help: "Answers stored in the response cache.",
    labels: [],
  },
  responseCacheEvictions: {
    name: "bulwark_response_cache_evictions_total",
    type: "counter",
    help: "Response cache entries evicted, by reason (size: room for newer ones; expired: TTL).",
    labels: ["reason"],
  },
  levelChanges: {
    name: "bulwark_memory_level_changes_total",
    type: "counter",
    help: "Memory pressure level changes, by the level entered.",
    labels: ["to"],
  },
  backupRuns: {
    name: "bulwark_backup_runs_total",
    type: "counter",
    help: "Backups taken by the server (schedule or admin API), by outcome (success, failure).",
    labels: ["outcome"],
  },
  backupDuration: {
    name: "bulwark_backup_duration_seconds",
    type: "histogram",
    help: "Time one backup took, from the first snapshot to its rename into place, in seconds.",
    labels: [],
    buckets: LOAD_BUCKETS,
  },
  stateFallback: {
    name: "bulwark_state_fallback_decisions_total",
    type: "counter",
    help: "Limit decisions the shared state backend could not take, by operation and by policy (closed: refused with state_unavailable; open: taken by this instance's own limits).",
    labels: ["operation", "policy"],
  },
  alertEvents: {
    name: "bulwark_alert_events_total",
    type: "counter",
    help: "Alert state changes, by alert and state (firing, resolved).",
    labels: ["alert", "state"],
  },
} as const satisfies Record<string, EventMetric>;

type EventMetrics = typeof EVENT_METRICS;
type Built<M extends EventMetric> = M["type"] extends "counter"
  ? Counter<M["labels"][number]>
  : Histogram<M["labels"][number]>;

type ModelState = ReturnType<MetricsState["models"]>[number];
type ProcessState = NonNullable<ReturnType<MetricsState["resources"]>>["processes"][number];
type Labels = Record<string, string>;

/**
 * A gauge read at scrape time. With labels, `read` lists every series (the old ones are
 * dropped); without, it gives the value, or undefined to keep the last one.
 */
type GaugeMetric = { name: string; help: string } & (
  | { labels: readonly string[]; read(state: MetricsState): { labels: Labels; value: number }[] }
  | { labels?: undefined; read(state: MetricsState): number | undefined }
);

const perModel = (name: string, help: string, pick: (m: ModelState) => number): GaugeMetric => ({
  name,
  help,
  labels: ["model"],
  read: (state) => state.models().map((m) => ({ labels: { model: m.name }, value: pick(m) })),
});

const perProcess = (
  name: string,
  help: string,
  pick: (p: ProcessState) => number,
): GaugeMetric => ({
  name,
  help,
  labels: ["role", "model", "replica", "pid"],
  read: (state) =>
    (state.resources()?.processes ?? []).map((p) => ({
      labels: {
        role: p.role,
        model: p.model ?? "",
        replica: p.replica ?? "",
        pid: String(p.pid ?? ""),
      },
      value: pick(p),
    })),
});

/** One gauge per remote backend: in service, requests in flight, health-check latency. */
function backendGauges(): GaugeMetric[] {
  const each = (
    name: string,
    help: string,
    pick: (b: ReturnType<NonNullable<MetricsState["backends"]>>[number]) => number | undefined,
  ): GaugeMetric => ({
    name,
    help,
    labels: ["model", "backend"],
    read: (state) =>
      (state.backends?.() ?? []).flatMap((b) => {
        const value = pick(b);
        return value === undefined
          ? []
          : [{ labels: { model: b.model, backend: b.backend }, value }];
      }),
  });
  return [
    each("bulwark_backend_up", "1 while the remote backend is in service.", (b) => (b.up ? 1 : 0)),
    each("bulwark_backend_in_flight", "Requests running on the remote backend.", (b) => b.inFlight),
    each(
      "bulwark_backend_health_check_seconds",
      "Round trip of the remote backend's last passing health check, in seconds.",
      (b) => (b.latencyMs === null ? undefined : b.latencyMs / 1000),
    ),
  ];
}

/** The live gauges, in exposition order (after the event metrics). */
const GAUGES: readonly GaugeMetric[] = [
  perModel("bulwark_num_requests_running", "Requests running on a slot.", (m) => m.running),
  perModel("bulwark_num_requests_waiting", "Requests waiting in the queue.", (m) => m.waiting),
  perModel("bulwark_busy_slots", "Slots decoding a request.", (m) => m.busySlots),
  perModel("bulwark_total_slots", "Slots of the ready workers.", (m) => m.totalSlots),
  perModel("bulwark_model_ready", "1 when the model has a ready worker.", (m) => (m.ready ? 1 : 0)),
  perModel(
    "bulwark_model_unloaded",
    "1 while the model is unloaded to free memory (its next request loads it).",
    (m) => (m.unloaded ? 1 : 0),
  ),
  ...backendGauges(),
  {
    name: "bulwark_memory_used_bytes",
    help: "Memory in use against the guard's limit (cgroup working set, meminfo, or budget).",
    read: (state) => state.resources()?.memoryUsedBytes,
  },
  {
    name: "bulwark_memory_limit_bytes",
    help: "The memory limit the guard measures against.",
    read: (state) => state.resources()?.memoryLimitBytes,
  },
  {
    name: "bulwark_memory_usage_ratio",
    help: "Memory used over the limit, 0..1.",
    read: (state) => {
      const s = state.resources();
      return s && s.memoryLimitBytes > 0 ? s.memoryUsedBytes / s.memoryLimitBytes : undefined;
    },
  },
  {
    name: "bulwark_cpu_usage_ratio",
    help: "Busy share of all the machine's cores over the last sample, 0..1.",
    read: (state) => state.resources()?.cpuRatio,
  },
  perProcess(
    "bulwark_process_resident_memory_bytes",
    "RSS of the gateway and of each worker.",
    (p) => p.rssBytes,
  ),
  perProcess(
    "bulwark_process_cpu_seconds",
    "CPU time used by the gateway and each worker, in seconds.",
    (p) => p.cpuSeconds,
  ),
  perProcess(
    "bulwark_process_cpu_usage_ratio",
    "CPU use of each process over the last sample (1 = one core).",
    (p) => p.cpuRatio,
  ),
  {
    name: "bulwark_memory_pressure_level",
    help: "Memory guard level: 0 ok, 1 warn, 2 shed, 3 reclaim.",
    read: (state) => state.guardLevel(),
  },
  {
    name: "bulwark_degradation_step",
    help: "Degradation ladder step per model: 0 normal … 3 max_tokens cap.",
    labels: ["model"],
    read: (state) =>
      state.degradationSteps().map((d) => ({ labels: { model: d.model }, value: d.step })),
  },
  {
    name: "bulwark_backup_last_success_timestamp_seconds",
    help: "Unix time of the last successful backup (taken or found in backup.dir at start).",
    read: (state) => {
      const at = state.backup?.().lastSuccessAt ?? null;
      return at === null ? undefined : at / 1000;
    },
  },
  {
    name: "bulwark_backup_last_bytes",
    help: "Bytes the last successful backup wrote (model files already in backup.dir excluded).",
    read: (state) => state.backup?.().lastBytes ?? undefined,
  },
  {
    name: "bulwark_state_backend_up",
    help: "1 while the state backend (state.backend) can be reached, 0 while it cannot.",
    read: (state) => state.stateBackendUp?.() ?? 1,
  },
  {
    name: "bulwark_alert_firing",
    help: "1 while the alert fires, 0 otherwise.",
    labels: ["alert"],
    read: (state) =>
      state.alerts().map((a) => ({ labels: { alert: a.name }, value: a.firing ? 1 : 0 })),
  },
];

/** Registers one event metric of the table. */
function register<M extends EventMetric>(m: M, registry: Registry): Built<M> {
  const common = {
    name: m.name,
    help: m.help,
    labelNames: m.labels as string[],
    registers: [registry],
  };
  if (m.type === "counter") return new Counter(common) as Built<M>;
  return new Histogram({ ...common, buckets: [...(m.buckets ?? [])] }) as Built<M>;
}

/** Registers one live gauge of the table, read from `state` at every scrape. */
function registerGauge(g: GaugeMetric, state: MetricsState, registry: Registry): void {
  new Gauge({
    name: g.name,
    help: g.help,
    labelNames: (g.labels ?? []) as string[],
    registers: [registry],
    collect() {
      if (g.labels) {
        this.reset();
        for (const s of g.read(state)) this.set(s.labels, s.value);
        return;
      }
      const value = g.read(state);
      if (value !== undefined) this.set(value);
    },
  });
}

export class Metrics {
  readonly registry = new Registry();
  private readonly m: { [K in keyof EventMetrics]: Built<EventMetrics[K]> };
  /** Set by the response cache as it changes (it is not state the scrape can read). */
  private readonly responseCacheBytesGauge: Gauge;

  /**
   * `instance`: this instance's id, the `bulwark_instance` label of bulwark_instance_info (an
   * info metric: a query joins it on the scrape target to name the instance, and the other
   * series keep their label sets, which dashboards and rules match exactly).
   */
  constructor(state: MetricsState, instance?: string) {
    if (instance) {
      new Gauge({
        name: "bulwark_instance_info",
        help: "Always 1; its bulwark_instance label is this instance's id (instance.id).",
        labelNames: ["bulwark_instance"],
        registers: [this.registry],
      }).set({ bulwark_instance: instance }, 1);
    }
    collectDefaultMetrics({ register: this.registry, prefix: "bulwark_gateway_" });
    const built: Record<string, unknown> = {};
    for (const [key, metric] of Object.entries(EVENT_METRICS)) {
      built[key] = register(metric, this.registry);
    }
    this.m = built as typeof this.m;
    for (const g of GAUGES) registerGauge(g, state, this.registry);
    this.responseCacheBytesGauge = new Gauge({
      name: "bulwark_response_cache_bytes",
      help: "Bytes the response cache's in-process tier holds.",
      registers: [this.registry],
    });
  }

  /** One answered HTTP request (every route). Generation requests also feed the latency figures. */
  request(o: RequestObservation, generation: boolean): void {
    const m = this.m;
    m.httpRequests.inc({ endpoint: o.endpoint, model: o.model, status: String(o.status) });
    if (!generation || !o.model) return;
    const model = o.model;
    m.e2e.observe({ model, endpoint: o.endpoint }, o.durationSeconds);
    if (o.ttftSeconds !== undefined) m.ttft.observe({ model }, o.ttftSeconds);
    // A response-cache hit ran no engine: its prompt met no slot's KV cache.
    const engineRan = o.cache !== "hit" && o.cache !== "semantic-hit";
    if (o.promptTokens !== undefined) {
      m.promptTokens.inc({ model }, o.promptTokens);
      m.promptHist.observe({ model }, o.promptTokens);
      if (!engineRan) m.responseCachePromptTokens.inc({ model }, o.promptTokens);
      if (o.cachedTokens !== undefined && engineRan) {
        m.prefixQueries.inc({ model }, o.promptTokens);
        m.prefixHits.inc({ model }, o.cachedTokens);
      }
    }
    if (o.completionTokens !== undefined) {
      m.generationTokens.inc({ model }, o.completionTokens);
      m.generationHist.observe({ model }, o.completionTokens);
    }
    if (o.finishReason) m.success.inc({ model, finished_reason: o.finishReason });
  }

  interToken(model: string, seconds: number, tokens = 1): void {
    for (let i = 0; i < tokens; i++) this.m.itl.observe({ model }, seconds);
  }

  queued(model: string, seconds: number): void {
    this.m.queueTime.observe({ model }, seconds);
  }

  loaded(model: string, seconds: number): void {
    this.m.loadSeconds.observe({ model }, seconds);
  }

  restarted(model: string): void {
    this.m.restarts.inc({ model });
  }

  preempted(model: string): void {
    this.m.preemptions.inc({ model });
  }

  batchLine(outcome: "completed" | "failed" | "retried"): void {
    this.m.batchLines.inc({ outcome });
  }

  autoscaled(model: string, action: string): void {
    this.m.autoscaleDecisions.inc({ model, action });
  }

  /** What the remote backends report. */
  readonly backend = {
    request: (model: string, backend: string, outcome: string) =>
      this.m.backendRequests.inc({ model, backend, outcome }),
    ejected: (model: string, backend: string) => this.m.backendEjections.inc({ model, backend }),
  };

  loadRefused(model: string): void {
    this.m.loadsRefused.inc({ model });
  }

  shedRequest(reason: string, endpoint: string): void {
    this.m.shed.inc({ reason, endpoint });
  }

  rateLimit(limit: string): void {
    this.m.rateLimited.inc({ limit });
  }

  cacheLookup(cache: string, hit: boolean): void {
    (hit ? this.m.cacheHits : this.m.cacheMisses).inc({ cache });
  }

  /** What the response cache reports. */
  readonly responseCache = {
    lookup: (kind: "exact" | "semantic", hit: boolean) => {
      this.m.responseCacheLookups.inc({ kind });
      if (hit) this.m.responseCacheHits.inc({ kind });
    },
    stored: () => this.m.responseCacheStores.inc(),
    evicted: (reason: "size" | "expired") => this.m.responseCacheEvictions.inc({ reason }),
    bytes: (total: number) => this.responseCacheBytesGauge.set(total),
    sharedError: (op: string) => this.m.responseCacheSharedErrors.inc({ op }),
  };

  levelChanged(to: string): void {
    this.m.levelChanges.inc({ to });
  }

  stateFallback(operation: string, policy: string): void {
    this.m.stateFallback.inc({ operation, policy });
  }

  alertEvent(alert: string, state: string): void {
    this.m.alertEvents.inc({ alert, state });
  }

  backupRun(ok: boolean, durationSeconds: number): void {
    this.m.backupRuns.inc({ outcome: ok ? "success" : "failure" });
    if (ok) this.m.backupDuration.observe({}, durationSeconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
