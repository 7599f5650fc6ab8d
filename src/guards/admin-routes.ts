/**
 * Admin route of the guard: GET /admin/guards (memory level, processes, ladder, recent
 * actions). Registered on the admin listener, which carries the admin authentication; never on
 * the public API.
 */
import type { FastifyInstance } from "fastify";

export interface GuardAdminDeps {
  guard?: { health(): object };
}

export function registerGuardAdminRoutes(app: FastifyInstance, deps: GuardAdminDeps): void {
  app.get("/admin/guards", { config: { permission: "metrics.read" } }, async () => ({
    enabled: deps.guard !== undefined,
    ...(deps.guard?.health() ?? {}),
  }));
}
