/**
 * Prometheus metrics (prom-client), on a registry of their own. Names follow vLLM's where vLLM
 * has one (vllm:time_to_first_token_seconds → bulwark_time_to_first_token_seconds), with the
 * bulwark_ prefix; docs/operations.md lists every metric. Gauges that mirror live state (queue
 * depth, busy slots, memory) are read at scrape time through collect callbacks.
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
  degradationSteps(): { model: string; step: number }[];
  alerts(): { name: string; firing: boolean }[];
}

const LATENCY_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640,
];
const ITL_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1, 2.5, 5];
const TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

export class Metrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<"endpoint" | "model" | "status">;
  private readonly success: Counter<"model" | "finished_reason">;
  private readonly promptTokens: Counter<"model">;
  private readonly generationTokens: Counter<"model">;
  private readonly ttft: Histogram<"model">;
  private readonly itl: Histogram<"model">;
  private readonly e2e: Histogram<"model" | "endpoint">;
  private readonly queueTime: Histogram<"model">;
  private readonly promptHist: Histogram<"model">;
  private readonly generationHist: Histogram<"model">;
  private readonly restarts: Counter<"model">;
  private readonly loadSeconds: Histogram<"model">;
  private readonly shed: Counter<"reason" | "endpoint">;
  private readonly rateLimited: Counter<"limit">;
  private readonly prefixQueries: Counter<"model">;
  private readonly prefixHits: Counter<"model">;
  private readonly cacheHits: Counter<"cache">;
  private readonly cacheMisses: Counter<"cache">;
  private readonly loadsRefused: Counter<"model">;
  private readonly levelChanges: Counter<"to">;
  private readonly alertEvents: Counter<"alert" | "state">;

  constructor(state: MetricsState) {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "bulwark_gateway_" });
    this.httpRequests = new Counter({
      name: "bulwark_http_requests_total",
      help: "HTTP requests answered, by route, model and status code.",
      labelNames: ["endpoint", "model", "status"],
      registers: r,
    });
    this.success = new Counter({
      name: "bulwark_request_success_total",
      help: "Generation requests that finished, by finish reason (vLLM: request_success_total).",
      labelNames: ["model", "finished_reason"],
      registers: r,
    });
    this.promptTokens = new Counter({
      name: "bulwark_prompt_tokens_total",
      help: "Prompt tokens of generation requests.",
      labelNames: ["model"],
      registers: r,
    });
    this.generationTokens = new Counter({
      name: "bulwark_generation_tokens_total",
      help: "Tokens generated.",
      labelNames: ["model"],
      registers: r,
    });
    this.promptHist = new Histogram({
      name: "bulwark_request_prompt_tokens",
      help: "Prompt tokens per request.",
      labelNames: ["model"],
      buckets: TOKEN_BUCKETS,
      registers: r,
    });
    this.generationHist = new Histogram({
      name: "bulwark_request_generation_tokens",
      help: "Generated tokens per request.",
      labelNames: ["model"],
      buckets: TOKEN_BUCKETS,
      registers: r,
    });
    this.ttft = new Histogram({
      name: "bulwark_time_to_first_token_seconds",
      help: "Time from the request's arrival to its first generated token, in seconds.",
      labelNames: ["model"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.itl = new Histogram({
      name: "bulwark_inter_token_latency_seconds",
      help: "Time between consecutive generated tokens, in seconds.",
      labelNames: ["model"],
      buckets: ITL_BUCKETS,
      registers: r,
    });
    this.e2e = new Histogram({
      name: "bulwark_e2e_request_latency_seconds",
      help: "End-to-end latency of generation requests, arrival to last byte, in seconds.",
      labelNames: ["model", "endpoint"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.queueTime = new Histogram({
      name: "bulwark_request_queue_time_seconds",
      help: "Time a request waited in the model's queue before a slot took it, in seconds.",
      labelNames: ["model"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.restarts = new Counter({
      name: "bulwark_worker_restarts_total",
      help: "Engine workers restarted after dying, being killed or being refused a load.",
      labelNames: ["model"],
      registers: r,
    });
    this.loadSeconds = new Histogram({
      name: "bulwark_model_load_seconds",
      help: "Time from a worker's spawn to its model being ready, in seconds.",
      labelNames: ["model"],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: r,
    });
    this.loadsRefused = new Counter({
      name: "bulwark_model_loads_refused_total",
      help: "Model or replica loads refused because memory would cross the warn threshold.",
      labelNames: ["model"],
      registers: r,
    });
    this.shed = new Counter({
      name: "bulwark_requests_shed_total",
      help: "Requests refused to protect the server (memory_pressure, queue_full, queue_timeout).",
      labelNames: ["reason", "endpoint"],
      registers: r,
    });
    this.rateLimited = new Counter({
      name: "bulwark_requests_rate_limited_total",
      help: "Requests refused by a rate limit.",
      labelNames: ["limit"],
      registers: r,
    });
    this.prefixQueries = new Counter({
      name: "bulwark_prefix_cache_queries_total",
      help: "Prompt tokens looked up in the slots' KV caches (vLLM: prefix_cache_queries).",
      labelNames: ["model"],
      registers: r,
    });
    this.prefixHits = new Counter({
      name: "bulwark_prefix_cache_hits_total",
      help: "Prompt tokens found in a slot's KV cache, not evaluated again (vLLM: prefix_cache_hits).",
      labelNames: ["model"],
      registers: r,
    });
    this.cacheHits = new Counter({
      name: "bulwark_cache_hits_total",
      help: "Lookups in a cache of the gateway (compiled grammars) that found an entry.",
      labelNames: ["cache"],
      registers: r,
    });
    this.cacheMisses = new Counter({
      name: "bulwark_cache_misses_total",
      help: "Cache lookups that found nothing.",
      labelNames: ["cache"],
      registers: r,
    });
    this.levelChanges = new Counter({
      name: "bulwark_memory_level_changes_total",
      help: "Memory pressure level changes, by the level entered.",
      labelNames: ["to"],
      registers: r,
    });
    this.alertEvents = new Counter({
      name: "bulwark_alert_events_total",
      help: "Alert state changes, by alert and state (firing, resolved).",
      labelNames: ["alert", "state"],
      registers: r,
    });
    this.registerGauges(state);
  }

  private registerGauges(state: MetricsState): void {
    const r = [this.registry];
    const perModel = (
      name: string,
      help: string,
      pick: (m: ReturnType<MetricsState["models"]>[number]) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ["model"],
        registers: r,
        collect() {
          this.reset();
          for (const m of state.models()) this.set({ model: m.name }, pick(m));
        },
      });
    perModel("bulwark_num_requests_running", "Requests running on a slot.", (m) => m.running);
    perModel("bulwark_num_requests_waiting", "Requests waiting in the queue.", (m) => m.waiting);
    perModel("bulwark_busy_slots", "Slots decoding a request.", (m) => m.busySlots);
    perModel("bulwark_total_slots", "Slots of the ready workers.", (m) => m.totalSlots);
    perModel("bulwark_model_ready", "1 when the model has a ready worker.", (m) =>
      m.ready ? 1 : 0,
    );
    perModel(
      "bulwark_model_unloaded",
      "1 while the model is unloaded to free memory (its next request loads it).",
      (m) => (m.unloaded ? 1 : 0),
    );
    new Gauge({
      name: "bulwark_memory_used_bytes",
      help: "Memory in use against the guard's limit (cgroup working set, meminfo, or budget).",
      registers: r,
      collect() {
        const s = state.resources();
        if (s) this.set(s.memoryUsedBytes);
      },
    });
    new Gauge({
      name: "bulwark_memory_limit_bytes",
      help: "The memory limit the guard measures against.",
      registers: r,
      collect() {
        const s = state.resources();
        if (s) this.set(s.memoryLimitBytes);
      },
    });
    new Gauge({
      name: "bulwark_memory_usage_ratio",
      help: "Memory used over the limit, 0..1.",
      registers: r,
      collect() {
        const s = state.resources();
        if (s && s.memoryLimitBytes > 0) this.set(s.memoryUsedBytes / s.memoryLimitBytes);
      },
    });
    new Gauge({
      name: "bulwark_cpu_usage_ratio",
      help: "Busy share of all the machine's cores over the last sample, 0..1.",
      registers: r,
      collect() {
        const s = state.resources();
        if (s) this.set(s.cpuRatio);
      },
    });
    const processLabels = ["role", "model", "replica", "pid"] as const;
    const perProcess = (
      name: string,
      help: string,
      pick: (p: { rssBytes: number; cpuSeconds: number; cpuRatio: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: processLabels,
        registers: r,
        collect() {
          this.reset();
          for (const p of state.resources()?.processes ?? []) {
            this.set(
              {
                role: p.role,
                model: p.model ?? "",
                replica: p.replica ?? "",
                pid: String(p.pid ?? ""),
              },
              pick(p),
            );
          }
        },
      });
    perProcess(
      "bulwark_process_resident_memory_bytes",
      "RSS of the gateway and of each worker.",
      (p) => p.rssBytes,
    );
    perProcess(
      "bulwark_process_cpu_seconds",
      "CPU time used by the gateway and each worker, in seconds.",
      (p) => p.cpuSeconds,
    );
    perProcess(
      "bulwark_process_cpu_usage_ratio",
      "CPU use of each process over the last sample (1 = one core).",
      (p) => p.cpuRatio,
    );
    new Gauge({
      name: "bulwark_memory_pressure_level",
      help: "Memory guard level: 0 ok, 1 warn, 2 shed, 3 reclaim.",
      registers: r,
      collect() {
        this.set(state.guardLevel());
      },
    });
    new Gauge({
      name: "bulwark_degradation_step",
      help: "Degradation ladder step per model: 0 normal … 3 max_tokens cap.",
      labelNames: ["model"],
      registers: r,
      collect() {
        this.reset();
        for (const d of state.degradationSteps()) this.set({ model: d.model }, d.step);
      },
    });
    new Gauge({
      name: "bulwark_alert_firing",
      help: "1 while the alert fires, 0 otherwise.",
      labelNames: ["alert"],
      registers: r,
      collect() {
        this.reset();
        for (const a of state.alerts()) this.set({ alert: a.name }, a.firing ? 1 : 0);
      },
    });
  }

  /** One answered HTTP request (every route). Generation requests also feed the latency figures. */
  request(o: RequestObservation, generation: boolean): void {
    this.httpRequests.inc({ endpoint: o.endpoint, model: o.model, status: String(o.status) });
    if (!generation || !o.model) return;
    const model = o.model;
    this.e2e.observe({ model, endpoint: o.endpoint }, o.durationSeconds);
    if (o.ttftSeconds !== undefined) this.ttft.observe({ model }, o.ttftSeconds);
    if (o.promptTokens !== undefined) {
      this.promptTokens.inc({ model }, o.promptTokens);
      this.promptHist.observe({ model }, o.promptTokens);
      if (o.cachedTokens !== undefined) {
        this.prefixQueries.inc({ model }, o.promptTokens);
        this.prefixHits.inc({ model }, o.cachedTokens);
      }
    }
    if (o.completionTokens !== undefined) {
      this.generationTokens.inc({ model }, o.completionTokens);
      this.generationHist.observe({ model }, o.completionTokens);
    }
    if (o.finishReason) this.success.inc({ model, finished_reason: o.finishReason });
  }

  interToken(model: string, seconds: number, tokens = 1): void {
    for (let i = 0; i < tokens; i++) this.itl.observe({ model }, seconds);
  }

  queued(model: string, seconds: number): void {
    this.queueTime.observe({ model }, seconds);
  }

  loaded(model: string, seconds: number): void {
    this.loadSeconds.observe({ model }, seconds);
  }

  restarted(model: string): void {
    this.restarts.inc({ model });
  }

  loadRefused(model: string): void {
    this.loadsRefused.inc({ model });
  }

  shedRequest(reason: string, endpoint: string): void {
    this.shed.inc({ reason, endpoint });
  }

  rateLimit(limit: string): void {
    this.rateLimited.inc({ limit });
  }

  cacheLookup(cache: string, hit: boolean): void {
    (hit ? this.cacheHits : this.cacheMisses).inc({ cache });
  }

  levelChanged(to: string): void {
    this.levelChanges.inc({ to });
  }

  alertEvent(alert: string, state: string): void {
    this.alertEvents.inc({ alert, state });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
