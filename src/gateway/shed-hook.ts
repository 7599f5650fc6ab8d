/**
 * The load-shedding hook: while memory is at the shed level, new generation requests get 503
 * memory_pressure with Retry-After before any work starts. Health, metrics, model listing,
 * tokenize and admin routes are not generation and stay up.
 */
import type { onRequestAsyncHookHandler } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { routePolicy } from "../http/index.js";
import type { GatewayGuard } from "./types.js";

/** Returns the onRequest hook (refusals are counted from their error code, with the others). */
export function memoryShed(shedder: Pick<GatewayGuard, "shedding">): onRequestAsyncHookHandler {
  return async function memoryShedHook(request) {
    if (!routePolicy(request).generation) return;
    const decision = shedder.shedding();
    if (!decision) return;
    throw new BulwarkError(
      "memory_pressure",
      `Memory use is ${decision.percent.toFixed(1)}% (${decision.level}); new generation ` +
        `requests are refused until it falls. Retry in ${decision.retryAfterSeconds} s.`,
      { retryAfterSeconds: decision.retryAfterSeconds },
    );
  };
}
