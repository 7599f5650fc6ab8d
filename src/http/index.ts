export {
  installRequestContext,
  type RequestContext,
  type RequestRecord,
  type GenerationGate,
  type GenerationReservation,
  type OutputFilter,
} from "./context.js";
export { routePolicy, type RoutePolicy } from "./route-policy.js";
export { normalizePath, normalizeUrl } from "./path.js";
export { buildBaseApp, type BaseAppOptions } from "./base-app.js";
export { connectionErrorOptions, installErrorHandling } from "./error-handler.js";
export { installRequestLog } from "./request-log.js";
export { requestLine, responseStatus, elapsedMs, type RequestLine } from "./request-line.js";
export { tlsFor, readTlsOptions, watchTls, type TlsSettings } from "./tls.js";
