/**
 * The interfaces through which the parts that do the work report their figures: the gateway
 * (requests, inter-token gaps), the model hosts (queue time, loads, restarts) and the memory
 * guard (levels, samples, refused loads). They are declared here, low in the tree, so that a
 * reporter and the telemetry that implements them never import each other; main.ts connects
 * them.
 */

/** Facts about one answered request, for metrics and KPI alerts. */
export interface RequestObservation {
  /** The route pattern (`/v1/chat/completions`), or "unmatched". */
  endpoint: string;
  model: string;
  status: number;
  durationSeconds: number;
  ttftSeconds?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** Prompt tokens found in a slot's KV cache (the prefix cache), of `promptTokens`. */
  cachedTokens?: number;
  finishReason?: string;
  errorCode?: string;
  /** What the response cache did (hit, semantic-hit, miss, bypass); unset without a cache. */
  cache?: string;
}

/** What the gateway reports: every answered request, and inter-token gaps. */
export interface GatewayObserver {
  /** A request ended; `generation` is true for the routes that run a model. */
  request(o: RequestObservation, generation: boolean): void;
  /** `tokens` tokens arrived `seconds` apart each. */
  interToken(model: string, seconds: number, tokens: number): void;
}

/** What the model hosts report (the supervisor's `HostObserver`). */
export interface ModelObserver {
  /** A request left the queue for a slot after waiting this long. */
  queueTime(model: string, seconds: number): void;
  /** A replica finished loading. */
  loaded(model: string, seconds: number): void;
  /** A dead replica is being restarted, and why. */
  restarted(model: string, reason: string): void;
  /** A batch line gave its slot to an interactive request. */
  preempted(model: string): void;
  /** The autoscaler decided: `up`, `down`, or `up_refused` (memory admission said no). */
  autoscaled(model: string, action: string): void;
}

/** What the memory guard reports. */
export interface GuardObserver {
  /** The pressure level changed to `level` at `percent` of the limit; `pressed` from warn up. */
  memoryLevel(level: string, percent: number, pressed: boolean): void;
  /** A resource sample: memory use in percent of the limit, CPU as a share of all cores. */
  resources(memoryPercent: number, cpuRatio: number): void;
  /** Load admission refused a worker of `model`. */
  loadRefused(model: string): void;
}

/** What the server's backups report: each run, and whether the last success is too old. */
export interface BackupObserver {
  /** A backup ended; `bytes` is what it wrote. */
  backupRun(o: { ok: boolean; durationSeconds: number; bytes: number; at: number }): void;
  /** Stale: the last success is older than twice the schedule's interval. */
  backupStale(stale: boolean, info: { lastSuccessAt: number | null; intervalMs: number }): void;
}

/** What the response cache reports (src/cache/). */
export interface ResponseCacheObserver {
  /** A lookup in the exact or the semantic cache, found or not. */
  lookup(kind: "exact" | "semantic", hit: boolean): void;
  /** An answer was stored. */
  stored(): void;
  /** An entry left to make room, or because its time to live ran out. */
  evicted(reason: "size" | "expired"): void;
  /** Bytes the process tier holds now. */
  bytes(total: number): void;
  /** A call to the shared tier (Redis) failed or timed out: `get`, `set` or `clear`. */
  sharedError?(op: string): void;
}
