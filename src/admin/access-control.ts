/**
 * The admin side of access protection: the stores of one home directory (keys, bans, audit,
 * usage), the first admin key, the audit record of each start, and the admin listener's app
 * over the edge parts that main.ts chose (they also guard the public API).
 */
import { tlsFor } from "../http/index.js";
import { IncidentService, IncidentStore, incidentRoutes } from "../incident/index.js";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ConfigError, type Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import type { BulwarkError } from "../errors/index.js";
import { openDatabase, storePath, type Db } from "../store/index.js";
import { KeyStore, parseKey, type Authenticator } from "../auth/index.js";
import { BanStore, type Netfilter } from "../netfilter/index.js";
import {
  AuditLog,
  LocalUsageReader,
  UsageStore,
  type AccessLogHookOptions,
  type UsageReader,
} from "../audit/index.js";
import { KeyService, type Actor } from "./key-service.js";
import { BanService } from "./ban-service.js";
import {
  auditRoutes,
  banRoutes,
  keyRoutes,
  type AdminContext,
  type AdminRoutes,
} from "./admin-routes.js";
import { buildAdminApp } from "./admin-app.js";
import { dashboardRoutes, loadAssets, sessionHook, SessionStore } from "../dashboard/index.js";

/** The store, keys, bans, audit and usage of one home directory (also used by the CLI). */
export interface Stores {
  db: Db;
  keys: KeyStore;
  bans: BanStore;
  audit: AuditLog;
  usage: UsageStore;
  /** Where usage reports are read: this home's table, or the fleet's with state.backend redis. */
  usageReader: UsageReader;
  keyService: KeyService;
  banService: BanService;
  /** The security-incident lockdown state. */
  incident: IncidentStore;
}

/** `instance`: the serving instance's id, recorded in each audit entry (none for the CLI). */
export function openStores(
  config: Readonly<Config>,
  now: () => number = Date.now,
  instance?: string,
): Stores {
  const db = openDatabase(storePath(config.home));
  const keys = new KeyStore(db, now);
  const bans = new BanStore(db, now, config.security.ipv6BanPrefix);
  const audit = new AuditLog(db, join(config.home, "audit.head"), now, instance);
  const usage = new UsageStore(db);
  return {
    db,
    keys,
    bans,
    audit,
    usage,
    usageReader: new LocalUsageReader(usage),
    keyService: new KeyService(keys, audit, config.security.keyRotationGraceMs),
    banService: new BanService(bans, audit),
    incident: new IncidentStore(db, now),
  };
}

/** The incident runbook over a home's stores (the CLI and the admin API). */
export function incidentService(config: Readonly<Config>, stores: Stores): IncidentService {
  return new IncidentService({
    config,
    store: stores.incident,
    audit: stores.audit,
    keys: stores.keys,
    bans: stores.bans,
    now: Date.now,
  });
}

/**
 * With no key in the store: imports BULWARK_ADMIN_KEY as the first admin key, or says in the
 * log how to make one.
 */
export function bootstrapAdmin(
  stores: Stores,
  options: { logger: Logger; adminKey?: string },
): void {
  if (stores.keys.count() > 0) return;
  const system: Actor = { id: "system", role: "admin" };
  if (options.adminKey) {
    if (!parseKey(options.adminKey)) {
      throw new ConfigError(
        "BULWARK_ADMIN_KEY is not a Bulwark key (bwk_…); make one with `bulwark keys generate`",
      );
    }
    const made = stores.keyService.create(
      system,
      { name: "bootstrap-admin", role: "admin" },
      options.adminKey,
    );
    options.logger.warn(
      { keyId: made.record.id },
      "created the first admin key from BULWARK_ADMIN_KEY",
    );
    return;
  }
  options.logger.warn(
    "no API keys yet: create the first admin key with `bulwark keys create --name admin --role admin` " +
      "(it prints the key once), or start with BULWARK_ADMIN_KEY set to a key from `bulwark keys generate`",
  );
}

/** Appends `server.started` to the audit log, after `config.changed` / `models.changed`. */
export function recordStart(config: Readonly<Config>, audit: AuditLog): void {
  const digest = createHash("sha256").update(JSON.stringify(config)).digest("hex");
  const models = config.models.map((m) => ({ name: m.name, path: m.path }));
  const lastStart = audit.lastEntry("server.started");
  if (lastStart && lastStart.details.configSha256 !== digest) {
    audit.append("system", "config.changed", null, {
      from: lastStart.details.configSha256,
      to: digest,
    });
  }
  const before = JSON.stringify(lastStart?.details.models ?? null);
  if (lastStart && before !== JSON.stringify(models)) {
    audit.append("system", "models.changed", null, { from: lastStart.details.models, to: models });
  }
  audit.append("system", "server.started", null, { configSha256: digest, models });
}

export interface AdminListenerDeps {
  config: Readonly<Config>;
  logger: Logger;
  stores: Stores;
  netfilter: Netfilter;
  authenticator: Authenticator;
  accessLog: AccessLogHookOptions;
  /** Counts a failed authentication against the client's address (auto-bans). */
  countFailure: (ip: string, error: BulwarkError) => void;
  /** Admin routes of other subsystems. */
  routes: readonly AdminRoutes[];
  now: () => number;
}

/**
 * The admin listener's app: key, ban and audit routes, the dashboard's page and login, and the
 * routes of other subsystems, each for admins unless it names its own permission; a failed
 * authentication is audited.
 */
export function buildAdminListener(deps: AdminListenerDeps): FastifyInstance {
  const { config, stores } = deps;
  const ctx: AdminContext = {
    keys: stores.keyService,
    bans: stores.banService,
    usage: stores.usageReader,
    audit: stores.audit,
    keyDefaults: config.rateLimits.keyDefaults,
    now: deps.now,
  };
  const append = (
    actor: string,
    action: string,
    target: string | null,
    details: Record<string, unknown>,
  ) => stores.audit.append(actor, action, target, details);
  const d = config.dashboard;
  const sessions = new SessionStore(
    { idleMs: d.sessionIdleMs, maxAgeMs: d.sessionMaxAgeMs, maxSessions: 1_000 },
    deps.now,
  );
  const dashboard = d.enabled
    ? [
        dashboardRoutes({
          sessions,
          authenticator: deps.authenticator,
          keys: stores.keys,
          usage: stores.usageReader,
          audit: stores.audit,
          append,
          countFailure: deps.countFailure,
          sessionMaxAgeMs: d.sessionMaxAgeMs,
          secureCookie: d.secureCookie,
          assets: loadAssets(),
          now: deps.now,
        }),
      ]
    : [];
  return buildAdminApp({
    logger: deps.logger,
    bodyLimit: config.server.bodyLimit,
    tls: tlsFor(config, true),
    netfilter: deps.netfilter,
    accessLog: deps.accessLog,
    session: d.enabled ? sessionHook({ sessions, keys: stores.keys, now: deps.now }) : undefined,
    auth: {
      authenticator: deps.authenticator,
      enabled: true,
      // A route without its own permission is for admins only.
      defaultPermission: "keys.admin",
      onFailure: (ip: string, error: BulwarkError, request: FastifyRequest) => {
        deps.countFailure(ip, error);
        stores.audit.append(ip, "admin.auth_failed", request.ctx.path, {
          code: error.code,
          keyId: request.ctx.key?.id,
        });
      },
    },
    routes: [
      keyRoutes(ctx),
      banRoutes(ctx),
      auditRoutes(ctx),
      incidentRoutes(incidentService(config, stores)),
      ...dashboard,
      ...deps.routes,
    ],
    incident: stores.incident,
    audit: append,
  });
}
