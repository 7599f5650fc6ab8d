/**
 * The auth edge hook: finds the key, checks the route's permission for the key's role, and
 * puts the key on the request. Failures count toward an auto-ban of the client IP.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { presentedKey, type Authenticator } from "./authenticator.js";
import type { KeyRecord } from "./key-store.js";
import { can, type Permission } from "./roles.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The permission a route needs; routes without one fall back to the listener's rule. */
    permission?: Permission | "public";
  }
}

export interface AuthHookOptions {
  authenticator: Authenticator;
  /** False turns authentication off (only loopback, or with --insecure). */
  enabled: boolean;
  /** The permission of a route without its own `config.permission`. */
  permissionFor(method: string, path: string): Permission | "public";
  /** Told about each refused key (auto-ban counting, audit of admin logins). */
  onFailure?(ip: string, error: BulwarkError, request: FastifyRequest): void;
}

/** Permissions of the public listener's routes. */
export function publicPermission(metricsPublic: boolean) {
  return (_method: string, path: string): Permission | "public" => {
    if (path === "/livez" || path === "/readyz") return "public";
    if (path === "/metrics") return metricsPublic ? "public" : "metrics.read";
    if (path === "/health" || path === "/v1/models" || path.startsWith("/v1/models/")) {
      return "models.read";
    }
    if (path === "/v1/usage") return "usage.own";
    return "inference";
  };
}

export function authHook(options: AuthHookOptions) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    if (!options.enabled) return;
    const { ctx } = request;
    const path = ctx.path;
    const permission =
      request.routeOptions.config?.permission ?? options.permissionFor(request.method, path);
    if (permission === "public") return;
    const ip = ctx.clientIp ?? "unknown";
    let key: KeyRecord;
    try {
      key = options.authenticator.authenticate(presentedKey(request.headers), ip);
    } catch (err) {
      if (err instanceof BulwarkError) options.onFailure?.(ip, err, request);
      throw err;
    }
    ctx.key = key;
    if (!can(key.role, permission)) {
      const error = new BulwarkError(
        "permission_denied",
        `The ${key.role} role may not use ${request.method} ${path}.`,
      );
      options.onFailure?.(ip, error, request);
      throw error;
    }
  };
}

/** Installs the hook on an app (the public gateway or the admin listener). */
export function installAuth(app: FastifyInstance, options: AuthHookOptions | undefined): void {
  if (!options) return;
  app.addHook("onRequest", authHook(options));
}
