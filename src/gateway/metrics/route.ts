/** GET /metrics: the Prometheus text exposition (docs/operations.md lists every metric). */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";

export function registerMetricsRoute(app: FastifyInstance, deps: GatewayDeps): void {
  const metrics = deps.metrics;
  if (!metrics) return;
  // security.metricsPublic lets a scraper without a key read it.
  const permission = deps.config.security.metricsPublic ? "public" : "metrics.read";
  app.get("/metrics", { config: { permission } }, async (_request, reply) => {
    void reply.header("content-type", metrics.contentType);
    return metrics.render();
  });
}
