/** What the gateway is built from: everything is passed in, nothing is looked up. */
import type { Config } from "../config/index.js";
import type { GatewayObserver, Logger, RequestObservation } from "../observability/index.js";
import type { ServedModel } from "../supervisor/index.js";
import type { GrammarCompiler } from "./shared/grammar-compiler.js";
import type { Netfilter } from "../netfilter/index.js";
import type { AuthHookOptions } from "../auth/index.js";
import type { RateLimitHookOptions } from "../limits/index.js";
import type { AccessLogHookOptions, UsageStore } from "../audit/index.js";

/** The gateway's request figures go out through these (declared low, in observability). */
export type { GatewayObserver, RequestObservation };

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
  accessLog?: AccessLogHookOptions;
  usage?: UsageStore;
}

/** Tokens held for one generation; settled once with what it really used. */
export interface GenerationReservation {
  settle(usedTokens: number): void;
}

/** Transforms generated text that arrives in pieces (PII masking, placeholder restore). */
export interface OutputFilter {
  push(text: string): string;
  end(): string;
  reset(): void;
}

/** What edge hooks attach to a request for the generation path. */
export interface GenerationGate {
  /** Called with the tokens to hold (prompt + max_tokens, or an embedding's bound); throws to
   * refuse. */
  reserveTokens?(tokens: number): Promise<GenerationReservation>;
  output?: OutputFilter;
}

/** Per-request facts collected for the request's log line. */
export interface RequestRecord {
  startedAt: number;
  clientRequestId?: string;
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** Prompt tokens the worker found in its KV cache (the prefix cache). */
  cachedTokens?: number;
  ttftMs?: number;
  errorCode?: string;
  stream?: boolean;
  finishReason?: string;
  /** The authenticated key's id (never the key). */
  keyId?: string;
  /** The client address after the trusted-proxy rules. */
  clientIp?: string;
  /** Text pieces streamed so far (the token count of a stream cut short). */
  streamedPieces?: number;
}

declare module "fastify" {
  interface FastifyRequest {
    record: RequestRecord;
    gate: GenerationGate | null;
  }
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
