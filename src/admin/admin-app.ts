/**
 * The admin listener: a second Fastify app, on its own address (127.0.0.1:8081 by default), with
 * the same edge as the public API (request id → IP filter → auth) but only admin routes, each
 * needing its own permission. Nothing of it is reachable through the public listener.
 */
import type { FastifyInstance, onRequestAsyncHookHandler } from "fastify";
import type { Logger } from "../observability/index.js";
import { buildBaseApp, type TlsSettings } from "../http/index.js";
import { installLockdown, type IncidentStore } from "../incident/index.js";
import { installIpFilter, type Netfilter } from "../netfilter/index.js";
import { installAuth, type AuthHookOptions } from "../auth/index.js";
import { installAccessLog, type AccessLogHookOptions } from "../audit/index.js";
import type { AdminRoutes } from "./admin-routes.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * An admin route that changes state names its audit action ("model.promoted"); each success
     * is appended to the audit log with the calling key as the actor.
     */
    audit?: string;
  }
}

/** Appends one audit entry (the audit log's `append`). */
export type AuditAppend = (
  actor: string,
  action: string,
  target: string | null,
  details: Record<string, unknown>,
) => void;

export interface AdminAppDeps {
  logger: Logger;
  bodyLimit: number;
  netfilter: Netfilter;
  auth: AuthHookOptions;
  accessLog?: AccessLogHookOptions;
  /** The dashboard's session hook: a session cookie stands for a key (before auth). */
  session?: onRequestAsyncHookHandler;
  routes: readonly AdminRoutes[];
  audit?: AuditAppend;
  /** HTTPS (and mTLS) settings of the admin listener. */
  tls?: TlsSettings;
  /** The lockdown state: while one is in force, only admin keys (with keepAdmin) pass. */
  incident?: IncidentStore;
}

export function buildAdminApp(deps: AdminAppDeps): FastifyInstance {
  const app = buildBaseApp({
    logger: deps.logger,
    component: "admin",
    requestLogComponent: "admin-access",
    bodyLimit: deps.bodyLimit,
    forceCloseConnections: true,
    tls: deps.tls,
  });
  installAccessLog(app, deps.accessLog);
  installIpFilter(app, deps.netfilter);
  if (deps.session) app.addHook("onRequest", deps.session);
  installAuth(app, deps.auth);
  installLockdown(app, deps.incident, "admin");
  if (deps.audit) installDeclaredAudit(app, deps.audit);
  for (const register of deps.routes) register(app);
  return app;
}

/** Audits every successful call of a route that declares `config.audit`. */
function installDeclaredAudit(app: FastifyInstance, append: AuditAppend): void {
  app.addHook("onResponse", async (request, reply) => {
    const action = request.routeOptions.config?.audit;
    if (!action || reply.statusCode >= 300) return;
    const params = (request.params ?? {}) as Record<string, string>;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const named = typeof body.name === "string" ? body.name : null;
    const target = Object.values(params).join(":") || named;
    append(request.ctx.key?.id ?? "unknown", action, target, {
      method: request.method,
      path: request.routeOptions.url,
      status: reply.statusCode,
    });
  });
}
