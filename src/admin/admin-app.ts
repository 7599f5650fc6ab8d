/**
 * The admin listener: a second Fastify app, on its own address (127.0.0.1:8081 by default), with
 * the same edge as the public API (request id → IP filter → auth) but only admin routes, each
 * needing its own permission. Nothing of it is reachable through the public listener.
 */
import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "../observability/index.js";
import { installErrorHandling, installRequestLog } from "../gateway/index.js";
import { installIpFilter, type Netfilter } from "../netfilter/index.js";
import { installAuth, type AuthHookOptions } from "../auth/index.js";
import { installAccessLog, type AccessLogHookOptions } from "../audit/index.js";
import type { AdminRoutes } from "./admin-routes.js";

export interface AdminAppDeps {
  logger: Logger;
  bodyLimit: number;
  netfilter: Netfilter;
  auth: AuthHookOptions;
  accessLog?: AccessLogHookOptions;
  routes: readonly AdminRoutes[];
}

export function buildAdminApp(deps: AdminAppDeps): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger.child({ component: "admin" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    genReqId: () => randomUUID().replace(/-/g, ""),
    requestIdHeader: false,
    forceCloseConnections: true,
  });
  app.removeContentTypeParser("text/plain");
  installRequestLog(app, deps.logger.child({ component: "admin-access" }));
  app.decorateRequest("gate", null);
  installAccessLog(app, deps.accessLog);
  installIpFilter(app, deps.netfilter);
  installAuth(app, deps.auth);
  installErrorHandling(app, deps.logger);
  for (const register of deps.routes) register(app);
  return app;
}
