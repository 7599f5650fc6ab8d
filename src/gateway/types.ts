/** What the gateway is built from: everything is passed in, nothing is looked up. */
import type { IncidentStore } from "../incident/index.js";
import type { Config } from "../config/index.js";
import type { GatewayObserver, Logger, RequestObservation } from "../observability/index.js";
import type { ServedModel } from "../engine/index.js";
import type { GrammarCompiler } from "./shared/grammar-compiler.js";
import type { Netfilter } from "../netfilter/index.js";
import type { AuthHookOptions } from "../auth/index.js";
import type { RateLimitHookOptions } from "../limits/index.js";
import type { AccessLogHookOptions, UsageReader, UsageStore } from "../audit/index.js";
import type { BatchLineHookOptions, BatchService, FileService } from "../batch/index.js";
import type {
  KeyCacheSettings,
  ModelDigests,
  RedisCacheTier,
  ResponseCache,
  SemanticIndexes,
} from "../cache/index.js";

/** The gateway's request figures go out through these (declared low, in observability). */
export type { GatewayObserver, RequestObservation };
export type { GenerationGate, GenerationReservation, OutputFilter } from "../http/index.js";

/** The memory guard as the gateway sees it. */
export interface GatewayGuard {
  /** Set while new generation requests must get 503 memory_pressure. */
  shedding(): { retryAfterSeconds: number; percent: number; level: string } | undefined;
  /** The degradation ladder's cap on max_tokens for a model, if any. */
  maxTokensCap(model: string): number | undefined;
  /** The guard's state for /health. */
  health(): object;
}

export interface CatalogEntry {
  model: ServedModel;
  /** Plain words on what the model is, shown by /v1/models (the demo model has one). */
  description?: string;
}

/** The models this gateway serves, by client-facing name. */
export interface ModelCatalog {
  get(name: string): CatalogEntry | undefined;
  list(): CatalogEntry[];
}

export interface GatewayDeps {
  config: Readonly<Config>;
  models: ModelCatalog;
  logger: Logger;
  grammar: GrammarCompiler;
  /** Epoch ms the process started, for /health. */
  startedAt: number;
  /** Memory guard: sheds generation requests under pressure; its state shows in /health. */
  guard?: GatewayGuard;
  /** Request figures for metrics and KPI alerts. */
  observer?: GatewayObserver;
  /** The Prometheus exposition served at GET /metrics. */
  metrics?: { contentType: string; render(): Promise<string> };
  /** Alerts firing now, shown in /health. */
  alerts?: { active(): object[] };
  /** Access protection at the edge; each is optional so a bare gateway still works. */
  netfilter?: Netfilter;
  auth?: AuthHookOptions;
  rateLimits?: RateLimitHookOptions;
  /** The security-incident lockdown: while one is in force, 503 maintenance. */
  incident?: IncidentStore;
  accessLog?: AccessLogHookOptions;
  usage?: UsageStore;
  /** Where GET /v1/usage reads (the fleet's with state.backend redis); default: `usage`. */
  usageReader?: UsageReader;
  /** The exact response cache; without it every request goes to the engine. */
  cache?: GatewayCache;
  /** This instance's id (instance.id, else hostname:port), shown in /health. */
  instance?: string;
  /** The shared state backend, for /health and /readyz (a gateway that fails closed is not ready). */
  state?: GatewayState;
  /** The Files and Batch API; without it /v1/files and /v1/batches are 404. */
  batch?: GatewayBatch;
}

/** The Files and Batch API (src/batch/): its services and the hook that admits batch lines. */
export interface GatewayBatch {
  files: FileService;
  batches: BatchService;
  lines: BatchLineHookOptions;
  settings: { maxFileBytes: number };
}

/** The state backend as the probes see it. */
export interface GatewayState {
  kind: "memory" | "redis";
  up(): boolean;
  failingClosed(): boolean;
}

/** The response cache as the gateway uses it (src/cache/). */
export interface GatewayCache {
  cache: ResponseCache;
  /** The content digest of each served model, part of every key. */
  digests: ModelDigests;
  /** Each key's cache settings; without a store every key has the defaults. */
  keys?: { get(keyId: string): KeyCacheSettings };
  /** The tier every gateway of a fleet shares (Redis), behind this process's own. */
  shared?: RedisCacheTier;
  /** The semantic cache's per-tenant indexes; without them no key has a semantic cache. */
  semantic?: SemanticIndexes;
  settings: Readonly<Config["cache"]>;
}

/** A simple catalog over a map. */
export class StaticModelCatalog implements ModelCatalog {
  private readonly entries = new Map<string, CatalogEntry>();

  add(entry: CatalogEntry): void {
    this.entries.set(entry.model.name, entry);
  }

  get(name: string): CatalogEntry | undefined {
    return this.entries.get(name);
  }

  list(): CatalogEntry[] {
    return [...this.entries.values()];
  }
}
