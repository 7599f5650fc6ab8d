/**
 * Start step: the dashboard's live side on the admin listener: the feed over the telemetry,
 * the model hosts, the registry and the guard, its SSE route, and the routes that unload and
 * reload a served model (admin API routes, also used by the dashboard).
 */
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/index.js";
import type { Telemetry } from "../observability/index.js";
import type { ModelHost } from "../supervisor/index.js";
import type { Registry, RegistryServing } from "../registry/index.js";
import {
  DashboardFeed,
  registerDashboardEvents,
  registerServingAdminRoutes,
} from "../dashboard/index.js";
import type { ResourceStack } from "./resources.js";

export interface DashboardStepDeps {
  admin: FastifyInstance;
  telemetry: Telemetry;
  hosts: () => readonly ModelHost[];
  registry: Registry;
  serving: RegistryServing | undefined;
  guard: { health(): object } | undefined;
}

/** Registers the routes; returns the feed's start (sampling begins once the server listens). */
export function buildDashboard(
  config: Readonly<Config>,
  deps: DashboardStepDeps,
  resources: ResourceStack,
): { start(): void } {
  registerServingAdminRoutes(deps.admin, deps.hosts);
  if (!config.dashboard.enabled) return { start: () => undefined };
  const { telemetry } = deps;
  const feed = new DashboardFeed(
    {
      kpis: () => telemetry.kpiValues(),
      thresholds: config.alerts,
      models: () => deps.hosts().map((h) => h.status()),
      registry: () => ({
        versions: deps.registry.list().map((v) => ({
          name: v.name,
          version: v.version,
          aliases: v.aliases,
          createdAt: v.createdAt,
        })),
        serving: (deps.serving?.served() ?? []).map((s) => ({
          model: s.servedName,
          name: s.name,
          version: s.version,
        })),
      }),
      guard: () => deps.guard?.health(),
      alerts: () => ({
        firing: telemetry.alerts?.active() ?? [],
        all: telemetry.alerts?.all() ?? [],
        recent: telemetry.recentAlerts(),
      }),
    },
    { sampleMs: config.dashboard.sampleMs, historyMs: config.dashboard.historyMs },
  );
  registerDashboardEvents(deps.admin, feed);
  resources.push("dashboard feed", () => feed.close());
  return { start: () => feed.start() };
}
