/**
 * Each route declares its policy in its Fastify route `config`: the permission a key needs,
 * whether it is open (no key, no rate limit) and whether it runs a model. The edge hooks read
 * it from the route the request matched (`request.routeOptions.config`), never from the URL,
 * so no spelling of a path can reach a route under another route's rule. A request that
 * matches no route gets the listener's default permission (and then 404 or 405).
 */
import type { FastifyContextConfig, FastifyRequest } from "fastify";
import type { Permission } from "../auth/index.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The permission a key needs; "public" needs no key. Unset: the listener's default. */
    permission?: Permission | "public";
    /** The liveness and readiness probes: no key and no rate limit. */
    open?: boolean;
    /** The route runs a model: memory shedding applies and metrics count it as generation. */
    generation?: boolean;
  }
}

/** What a route declares about itself. */
export type RoutePolicy = Pick<FastifyContextConfig, "permission" | "open" | "generation">;

/** The policy of the route `request` matched; empty for a request that matched none. */
export function routePolicy(request: FastifyRequest): RoutePolicy {
  return request.routeOptions.config ?? {};
}
