export { SessionStore, type Session, type SessionStoreOptions } from "./session-store.js";
export {
  sessionHook,
  sessionCookie,
  readCookie,
  SESSION_COOKIE,
  CSRF_HEADER,
  type SessionHookOptions,
} from "./session-hook.js";
export { dashboardRoutes, type DashboardRouteDeps } from "./routes.js";
export {
  DashboardFeed,
  kpiTargets,
  type FeedSources,
  type FeedOptions,
  type Snapshot,
  type KpiSample,
  type KpiTarget,
} from "./feed.js";
export { registerDashboardEvents, MAX_EVENT_STREAMS } from "./events-route.js";
export { registerServingAdminRoutes, type ManagedModel } from "./serving-routes.js";
export {
  loadAssets,
  DEFAULT_ASSET_DIR,
  CONTENT_SECURITY_POLICY,
  SECURITY_HEADERS,
  type StaticFile,
} from "./static-files.js";
