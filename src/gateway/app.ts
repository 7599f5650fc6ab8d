/**
 * The public API app: the shared base (request ids, the per-request log line, the error
 * envelope), the edge, and the routes. Route handlers only parse and delegate to services.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { buildBaseApp, tlsFor } from "../http/index.js";
import { installLockdown } from "../incident/index.js";
import type { GatewayDeps } from "./types.js";
import { registerChatRoute } from "./chat/route.js";
import { registerCompletionsRoute } from "./completions/route.js";
import { registerEmbeddingsRoute } from "./embeddings/route.js";
import { registerModelsRoutes } from "./models/route.js";
import { registerTokenizeRoutes } from "./tokenize/route.js";
import { registerHealthRoutes, type HealthExtras } from "./health/route.js";
import { registerMetricsRoute } from "./metrics/route.js";
import { installRequestMetrics } from "./request-metrics.js";
import { memoryShed } from "./shed-hook.js";
import { installIpFilter } from "../netfilter/index.js";
import { installAuth, installModelGuard } from "../auth/index.js";
import { installRateLimit } from "../limits/index.js";
import { installPrivacy } from "../privacy/index.js";
import { installAccessLog, LocalUsageReader, registerUsageRoute } from "../audit/index.js";
import { installBatchLine } from "../batch/index.js";
import { registerFilesRoutes } from "./files/route.js";
import { registerBatchesRoutes } from "./batches/route.js";

/** Builds the public API app; the caller listens and closes it. */
export function buildGateway(deps: GatewayDeps, extras: HealthExtras): FastifyInstance {
  const app = buildBaseApp({
    logger: deps.logger,
    component: "gateway",
    requestLogComponent: "access",
    bodyLimit: deps.config.server.bodyLimit,
    // Streams end on their own; the drain deadline in main.ts bounds the rest.
    forceCloseConnections: "idle",
    tls: tlsFor(deps.config, false),
  });
  // Before the edge checks, so that their refusals (401, 403, 429) are counted too.
  if (deps.observer) installRequestMetrics(app, deps.observer);
  // The edge, in order: request id (above) → IP filter → auth → rate limit → validation.
  installAccessLog(app, deps.accessLog);
  installIpFilter(app, deps.netfilter);
  // A batch line's key comes from its batch (src/batch/line-identity.ts), before auth.
  installBatchLine(app, deps.batch?.lines);
  installAuth(app, deps.auth);
  installLockdown(app, deps.incident, "public");
  installRateLimit(app, deps.rateLimits);
  // Both act on the request's key: with auth off there is none, and nothing to do.
  installModelGuard(app, deps.auth?.enabled === true);
  installPrivacy(app, deps.auth?.enabled === true);
  if (deps.guard) app.addHook("onRequest", memoryShed(deps.guard));
  app.addHook("onRequest", closeWhenDraining(extras));
  registerHealthRoutes(app, deps, extras);
  registerMetricsRoute(app, deps);
  registerModelsRoutes(app, deps);
  registerChatRoute(app, deps);
  registerCompletionsRoute(app, deps);
  registerEmbeddingsRoute(app, deps);
  registerTokenizeRoutes(app, deps);
  registerUsageRoute(app, deps.usageReader ?? (deps.usage && new LocalUsageReader(deps.usage)));
  if (deps.batch) {
    registerFilesRoutes(app, deps.batch);
    registerBatchesRoutes(app, deps.batch);
  }
  return app;
}

/**
 * While the server leaves (SIGTERM, server.shutdownDelayMs), each reply closes its connection,
 * so that a load balancer's kept-alive connections end with a finished request instead of
 * being cut when the listener closes.
 */
function closeWhenDraining(extras: HealthExtras) {
  return async function closeConnection(_request: unknown, reply: FastifyReply): Promise<void> {
    if (extras.draining() && !reply.raw.headersSent) reply.raw.setHeader("connection", "close");
  };
}
