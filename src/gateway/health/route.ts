/**
 * GET /livez: the process is up. GET /readyz: 503 until every configured model has a ready
 * worker (a model unloaded to free memory counts as ready, since its next request loads it),
 * while the server drains, and while the shared state is down with state.onRedisDown closed.
 * /readyz is open (probes have no key), so it tells an anonymous caller its status only; the
 * names of the models not ready are for a caller whose key may read the models (only those
 * its key may use), or for anyone when authentication is off, as with /health.
 * GET /health: workers, slots, queues and model load times, as JSON.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { GatewayDeps } from "../types.js";
import { BulwarkError } from "../../errors/index.js";
import { can, keyAllowsModel, presentedKey } from "../../auth/index.js";

export interface HealthExtras {
  /** Set while the server drains after SIGTERM: /readyz turns 503 so balancers move traffic. */
  draining(): boolean;
}

export function registerHealthRoutes(
  app: FastifyInstance,
  deps: GatewayDeps,
  extras: HealthExtras,
): void {
  // The probes are open: no key, no rate limit (load balancers and kubelets have no key).
  app.get("/livez", { config: { open: true } }, async () => ({ status: "ok" }));

  app.get("/readyz", { config: { open: true } }, async (request, reply) => {
    const models = deps.models.list();
    const notReady = models
      .filter((e) => !e.model.isReady() && !e.model.isUnloaded())
      .map((e) => e.model.name);
    const stateDown = deps.state?.failingClosed() ?? false;
    if (extras.draining() || stateDown || notReady.length > 0 || models.length === 0) {
      void reply.status(503).header("retry-after", "1");
      const status = extras.draining() ? "draining" : stateDown ? "state_unavailable" : "not_ready";
      if (!mayReadModels(request, deps)) return { status };
      return {
        status,
        models_not_ready: notReady.filter((name) => keyAllowsModel(request, name)),
      };
    }
    return { status: "ready" };
  });

  app.get("/health", { config: { permission: "models.read" } }, async (request) => {
    const all = deps.models.list().map((e) => e.model.status());
    const ready = all.length > 0 && all.every((m) => m.ready || m.unloaded);
    // A key limited to some models sees only those: the page must not tell it what else is
    // served, so the guard and the alerts, which name models, are left out for it too.
    const limited = (request.ctx.key?.models.length ?? 0) > 0;
    return {
      status: extras.draining() ? "draining" : ready ? "ok" : "degraded",
      uptime_seconds: Math.round((Date.now() - deps.startedAt) / 1000),
      ...(deps.instance ? { instance: deps.instance } : {}),
      ...(deps.state ? { state: { backend: deps.state.kind, up: deps.state.up() } } : {}),
      models: all.filter((m) => keyAllowsModel(request, m.name)),
      ...(deps.guard && !limited ? { guard: deps.guard.health() } : {}),
      ...(deps.alerts && !limited ? { alerts: deps.alerts.active() } : {}),
    };
  });
}

/**
 * Whether the caller of an open probe may see model names: authentication off, or a key that
 * may read the models. A key presented here is checked as on any route (a wrong one is 401 and
 * counts toward an auto-ban), so the probe is no oracle for guessing keys.
 */
function mayReadModels(request: FastifyRequest, deps: GatewayDeps): boolean {
  const auth = deps.auth;
  if (!auth?.enabled) return true;
  const raw = presentedKey(request.headers);
  if (!raw) return false;
  const ip = request.ctx.clientIp ?? "unknown";
  try {
    request.ctx.key = auth.authenticator.authenticate(raw, ip);
  } catch (err) {
    if (err instanceof BulwarkError) auth.onFailure?.(ip, err, request);
    throw err;
  }
  return can(request.ctx.key.role, "models.read");
}
