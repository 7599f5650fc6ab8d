/** What the gateway is built from: everything is passed in, nothing is looked up. */
import type { Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import type { ServedModel } from "../supervisor/index.js";
import type { GrammarCompiler } from "./shared/grammar-compiler.js";

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
}

/** Per-request facts collected for the request's log line. */
export interface RequestRecord {
  startedAt: number;
  clientRequestId?: string;
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  ttftMs?: number;
  errorCode?: string;
  stream?: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    record: RequestRecord;
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
