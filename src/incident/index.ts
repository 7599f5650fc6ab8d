export { IncidentStore, type Lockdown } from "./incident-store.js";
export { IncidentService, type IncidentDeps } from "./incident-service.js";
export { installLockdown, lockdownHook } from "./hook.js";
export { collectEvidence } from "./evidence.js";
export { incidentRoutes } from "./admin-routes.js";
