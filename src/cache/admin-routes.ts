/**
 * The response cache on the admin listener: its statistics, clearing it (all, one served
 * model's entries, one namespace's), and each key's cache settings.
 */
import type { FastifyInstance } from "fastify";
import { BulwarkError } from "../errors/index.js";
import type { KeyCacheStore } from "./key-settings.js";
import type { ResponseCache } from "./response-cache.js";
import type { SemanticIndexes } from "./semantic-index.js";
import type { RedisCacheTier } from "./redis-tier.js";
import { namespaceTenant } from "./tenant.js";

export interface CacheAdminDeps {
  cache: ResponseCache | undefined;
  /** The semantic cache's indexes (their answers live in `cache`). */
  semantic?: SemanticIndexes;
  /** The fleet's shared tier, cleared with this process's. */
  shared?: RedisCacheTier;
  /** A served model's current content digest (the shared tier's entries carry digests). */
  digestOf?(model: string): string | undefined;
  keys: KeyCacheStore;
  /** True when an API key with this id exists. */
  keyExists(id: string): boolean;
}

function queryString(query: unknown, name: string): string | undefined {
  const value = (query as Record<string, unknown> | undefined)?.[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new BulwarkError("invalid_request", `${name} must be one non-empty value.`, {
      param: name,
    });
  }
  return value;
}

export function registerCacheAdminRoutes(app: FastifyInstance, deps: CacheAdminDeps): void {
  const existing = (id: string) => {
    if (!deps.keyExists(id)) throw new BulwarkError("key_not_found", `No API key with id "${id}".`);
  };
  app.get("/admin/cache", { config: { permission: "cache.read" } }, async () => ({
    enabled: deps.cache !== undefined,
    ...(deps.cache?.stats() ?? { entries: 0, bytes: 0, maxBytes: 0, inFlight: 0 }),
    semanticQuestions: deps.semantic?.size() ?? 0,
  }));
  app.delete(
    "/admin/cache",
    { config: { permission: "cache.write", audit: "cache.cleared" } },
    async (request) => {
      const model = queryString(request.query, "model");
      const namespace = queryString(request.query, "namespace");
      const tenant = namespace === undefined ? undefined : namespaceTenant(namespace);
      // By model, the questions whose answers are gone are forgotten at their next lookup.
      if (model === undefined) deps.semantic?.clear(tenant);
      const removed = deps.cache?.clear({ model, tenant }) ?? 0;
      let sharedRemoved: number | null = null;
      if (deps.shared) {
        const digest = model === undefined ? undefined : deps.digestOf?.(model);
        // A model whose digest is unknown has nothing of its own to clear in the shared tier.
        if (model === undefined || digest !== undefined) {
          sharedRemoved = (await deps.shared.clear({ tenant, digest })) ?? null;
        } else sharedRemoved = 0;
      }
      return { removed, sharedRemoved, model: model ?? null, namespace: namespace ?? null };
    },
  );
  app.get<{ Params: { id: string } }>(
    "/admin/keys/:id/cache",
    { config: { permission: "keys.read" } },
    async (request) => {
      existing(request.params.id);
      return { id: request.params.id, ...deps.keys.get(request.params.id) };
    },
  );
  app.put<{ Params: { id: string } }>(
    "/admin/keys/:id/cache",
    { config: { permission: "keys.write", audit: "key.cache_changed" } },
    async (request) => {
      existing(request.params.id);
      return { id: request.params.id, ...deps.keys.update(request.params.id, request.body ?? {}) };
    },
  );
}
