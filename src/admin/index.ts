export {
  bootstrapAdmin,
  buildAdminListener,
  openStores,
  incidentService,
  recordStart,
  type AdminListenerDeps,
  type Stores,
} from "./access-control.js";
export { buildAdminApp, type AdminAppDeps, type AuditAppend } from "./admin-app.js";
export {
  keyRoutes,
  banRoutes,
  auditRoutes,
  type AdminRoutes,
  type AdminContext,
} from "./admin-routes.js";
export { KeyService, CLI_ACTOR, type Actor } from "./key-service.js";
export { BanService } from "./ban-service.js";
