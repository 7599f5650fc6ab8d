/**
 * Reports every answered request to the observer (metrics and KPI alerts) when its response
 * ends, streams included: route, model, status, duration, time to first token and tokens.
 */
import type { FastifyInstance } from "fastify";
import { responseStatus, routePolicy } from "../http/index.js";
import type { GatewayObserver } from "./types.js";

export function installRequestMetrics(app: FastifyInstance, observer: GatewayObserver): void {
  app.addHook("onRequest", (request, reply, done) => {
    reply.raw.once("close", () => {
      const r = request.ctx.record;
      const endpoint = request.routeOptions.url ?? "unmatched";
      observer.request(
        {
          endpoint,
          model: r.model ?? "",
          status: responseStatus(reply.raw),
          durationSeconds: (performance.now() - r.startedAt) / 1000,
          ttftSeconds: r.ttftMs === undefined ? undefined : r.ttftMs / 1000,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          cachedTokens: r.cachedTokens,
          finishReason: r.finishReason,
          errorCode: r.errorCode,
          cache: r.cache,
        },
        routePolicy(request).generation === true,
      );
    });
    done();
  });
}
