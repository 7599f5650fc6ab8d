/**
 * The auth edge hook: finds the key, checks the permission the matched route declares (its
 * `config.permission`, src/http/route-policy.ts) for the key's role, and puts the key in the
 * request context. Failures count toward an auto-ban of the client IP.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { routePolicy } from "../http/index.js";
import { presentedKey, type Authenticator } from "./authenticator.js";
import type { KeyRecord } from "./key-store.js";
import { can, type Permission } from "./roles.js";

export interface AuthHookOptions {
  authenticator: Authenticator;
  /** False turns authentication off (only loopback, or with --insecure). */
  enabled: boolean;
  /**
   * The permission of a route that declares none in its `config.permission`, and of a request
   * that matches no route (so that a 404 tells nothing to a caller without a key).
   */
  defaultPermission: Permission;
  /** Told about each refused key (auto-ban counting, audit of admin logins). */
  onFailure?(ip: string, error: BulwarkError, request: FastifyRequest): void;
}

export function authHook(options: AuthHookOptions) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    if (!options.enabled) return;
    const { ctx } = request;
    const policy = routePolicy(request);
    const permission = policy.open ? "public" : (policy.permission ?? options.defaultPermission);
    if (permission === "public") return;
    const ip = ctx.clientIp ?? "unknown";
    // A key the admin listener's dashboard session already established and checked.
    let key: KeyRecord | undefined = ctx.key;
    try {
      key ??= options.authenticator.authenticate(presentedKey(request.headers), ip);
    } catch (err) {
      if (err instanceof BulwarkError) options.onFailure?.(ip, err, request);
      throw err;
    }
    ctx.key = key;
    if (!can(key.role, permission)) {
      const error = new BulwarkError(
        "permission_denied",
        `The ${key.role} role may not use ${request.method} ${ctx.path}.`,
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
