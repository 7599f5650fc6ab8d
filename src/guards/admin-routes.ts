/**
 * Admin routes of the guard and the alerts: GET /admin/alerts (every alert and its state) and
 * GET /admin/guards (memory level, processes, ladder, recent actions). Registered on the admin
 * listener, which carries the admin authentication; never on the public API.
 */
import type { FastifyInstance } from "fastify";

export interface GuardAdminDeps {
  guard?: { health(): object };
  alerts?: { all(): object[]; active(): object[] };
}

export function registerGuardAdminRoutes(app: FastifyInstance, deps: GuardAdminDeps): void {
  app.get("/admin/alerts", { config: { permission: "metrics.read" } }, async () => ({
    firing: deps.alerts?.active() ?? [],
    alerts: deps.alerts?.all() ?? [],
  }));
  app.get("/admin/guards", { config: { permission: "metrics.read" } }, async () => ({
    enabled: deps.guard !== undefined,
    ...(deps.guard?.health() ?? {}),
  }));
}
