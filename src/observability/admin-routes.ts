/**
 * The admin route of the alerts: GET /admin/alerts (every alert and its state). Registered on
 * the admin listener, which carries the admin authentication; never on the public API.
 */
import type { FastifyInstance } from "fastify";

export function registerAlertAdminRoutes(
  app: FastifyInstance,
  alerts: { all(): object[]; active(): object[] } | undefined,
): void {
  app.get("/admin/alerts", { config: { permission: "metrics.read" } }, async () => ({
    firing: alerts?.active() ?? [],
    alerts: alerts?.all() ?? [],
  }));
}
