/**
 * The response cache on the gateway's side: what a request's entry is (tenant, model digest,
 * endpoint, canonical request), whether it may be read and written, the lookup with
 * single-flight, and the `x-bulwark-cache` answer header. The cache itself (src/cache/) knows
 * nothing of HTTP.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import {
  CACHE_HEADER,
  DEFAULT_KEY_CACHE,
  cacheKey,
  isDetermined,
  requestCachePolicy,
  tenantOf,
  type CacheEndpoint,
  type CachedValue,
  type KeyCacheSettings,
  type RequestCachePolicy,
} from "../../cache/index.js";
import type { GatewayCache, GatewayDeps } from "../types.js";
import type { SemanticStep } from "./semantic-lookup.js";

/** What a request may do with the cache, and under which key. */
export interface CachePlan {
  cache: GatewayCache;
  key: string;
  tenant: string;
  model: string;
  digest: string;
  policy: RequestCachePolicy;
  settings: KeyCacheSettings;
}

/** The answer header's values. */
export type CacheOutcome = "hit" | "miss" | "bypass" | "semantic-hit";

export function setCacheHeader(
  request: FastifyRequest,
  reply: FastifyReply,
  outcome: CacheOutcome,
): void {
  request.ctx.record.cache = outcome;
  if (!reply.raw.headersSent) reply.raw.setHeader(CACHE_HEADER, outcome);
}

/**
 * The request's cache plan, or undefined when the cache stays out of it (cache off, key off,
 * a sampled request, the model's digest not known yet). Parses the request header (400 on a
 * bad one).
 */
export function planCache(
  deps: GatewayDeps,
  request: FastifyRequest,
  endpoint: CacheEndpoint,
  body: Record<string, unknown> & { model: string },
): CachePlan | undefined {
  const cache = deps.cache;
  if (!cache) return undefined;
  const settings = cache.settings;
  const key = request.ctx.key;
  const keySettings = key && cache.keys ? cache.keys.get(key.id) : DEFAULT_KEY_CACHE;
  const policy = requestCachePolicy(request.headers[CACHE_HEADER], keySettings.mode, {
    defaultMs: settings.ttlMs,
    maxMs: settings.maxTtlMs,
  });
  if (!policy.lookup && !policy.store) return undefined;
  if (!settings.sampled && !isDetermined(endpoint, body)) return undefined;
  const digest = cache.digests.digest(body.model);
  if (!digest) return undefined;
  const tenant = tenantOf(key, keySettings).id;
  return {
    cache,
    key: cacheKey({ tenant: { id: tenant }, modelDigest: digest, endpoint, body }),
    tenant,
    model: body.model,
    digest,
    policy,
    settings: keySettings,
  };
}

/**
 * The stored answer, waiting for an identical request that is generating now; undefined on a
 * miss. A miss that may store leads a flight: `finish` must then be called exactly once.
 */
export async function lookup(
  plan: CachePlan,
  semantic?: SemanticStep,
): Promise<
  | { value: CachedValue; outcome: "hit" | "semantic-hit" }
  | { value: undefined; finish?: (v?: CachedValue) => void }
> {
  const { cache, shared } = plan.cache;
  if (plan.policy.lookup) {
    let found = cache.find(plan.key);
    if (!found && shared) {
      const remote = await shared.get(plan.key);
      if (remote) {
        found = remote.value;
        cache.set(plan.key, found, { model: plan.model, tenant: plan.tenant, ttlMs: remote.ttlMs });
      }
    }
    cache.exactLookup(found !== undefined);
    if (found) return { value: found, outcome: "hit" };
    const flight = cache.join(plan.key);
    if (flight) {
      const value = await flight;
      if (value) return { value, outcome: "hit" };
    }
    const close = await semantic?.find();
    if (close) return { value: close, outcome: "semantic-hit" };
  }
  if (!plan.policy.store) return { value: undefined };
  // With no-cache this request generates anew; it does not make identical ones wait for it.
  const finish = plan.policy.lookup ? plan.cache.cache.lead(plan.key) : undefined;
  return {
    value: undefined,
    finish: (value?: CachedValue) => {
      // A model swapped while this answer was generated: it is not stored under the old one.
      if (value && plan.cache.digests.digest(plan.model) === plan.digest) {
        const stored = plan.cache.cache.set(plan.key, value, {
          model: plan.model,
          tenant: plan.tenant,
          ttlMs: plan.policy.ttlMs,
        });
        if (stored) {
          semantic?.stored();
          void shared?.set(plan.key, value, plan.policy.ttlMs);
        }
      }
      finish?.(value);
    },
  };
}

/**
 * A hit's tokens against the key's token limits, when `cache.countHitTokens` says so: held and
 * settled at once. Returns nothing to settle later.
 */
export async function chargeHit(
  deps: GatewayDeps,
  request: FastifyRequest,
  tokens: number,
): Promise<void> {
  if (!deps.cache?.settings.countHitTokens || tokens <= 0) return;
  const reservation = await request.ctx.gate.reserveTokens?.(tokens);
  reservation?.settle(tokens);
}
