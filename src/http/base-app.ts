/**
 * The base every Bulwark listener is built on (the public API and the admin listener): path
 * normalisation, request ids, the request context, JSON-only bodies, the per-request log line
 * and the error envelope, written once.
 */
import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "../observability/index.js";
import { installRequestContext } from "./context.js";
import { connectionErrorOptions, installErrorHandling } from "./error-handler.js";
import { normalizeUrl } from "./path.js";
import { installRequestLog } from "./request-log.js";
import { readTlsOptions, watchTls, type TlsSettings } from "./tls.js";
import type { Server as HttpsServer } from "node:https";

export interface BaseAppOptions {
  logger: Logger;
  /** Names the app's own log lines ("gateway", "admin"). */
  component: string;
  /** Names its per-request lines ("access", "admin-access"). */
  requestLogComponent: string;
  /** Largest request body, in bytes (server.bodyLimit). */
  bodyLimit: number;
  /** On close: "idle" lets streams end on their own; true cuts every connection. */
  forceCloseConnections: boolean | "idle";
  /** HTTPS with these files (reloaded when they change); plain HTTP when absent. */
  tls?: TlsSettings;
}

/** A Fastify app with the shared plumbing installed; the caller adds its edge and routes. */
export function buildBaseApp(options: BaseAppOptions): FastifyInstance {
  const https = options.tls ? readTlsOptions(options.tls) : undefined;
  const app = Fastify({
    ...(https ? { https } : {}),
    loggerInstance: options.logger.child({ component: options.component }) as FastifyBaseLogger,
    // Bulwark writes its own line per request (request-log.ts), with tokens and timings.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    genReqId: () => randomUUID().replace(/-/g, ""),
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: options.forceCloseConnections,
    // Bad bytes and URLs that cannot be routed get OpenAI's envelope too.
    ...connectionErrorOptions(options.logger),
    // One spelling per path before routing: /%6detrics and /v1/../metrics reach /metrics.
    rewriteUrl: (req) => normalizeUrl(req.url ?? "/"),
  }) as unknown as FastifyInstance;
  if (options.tls) {
    const tls = options.tls;
    let stop = () => undefined as void;
    app.addHook("onListen", async () => {
      stop = watchTls(app.server as unknown as HttpsServer, tls, options.logger);
    });
    app.addHook("onClose", async () => stop());
  }
  // The API takes JSON only; other bodies get 415 unsupported_media_type.
  app.removeContentTypeParser("text/plain");
  // First of all hooks: every hook after it finds the request's context.
  installRequestContext(app);
  installRequestLog(app, options.logger.child({ component: options.requestLogComponent }));
  installErrorHandling(app, options.logger);
  return app;
}
