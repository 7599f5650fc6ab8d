/**
 * Builds access protection from the config: the store file, keys, bans, limits, the access,
 * audit and usage logs, and the admin listener. main.ts passes `gateway` into the public app
 * and calls `listenAdmin` and `close`.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ConfigError, type Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import type { BulwarkError } from "../errors/index.js";
import { openDatabase, storePath, type Db } from "../store/index.js";
import { Authenticator, KeyStore, parseKey, type AuthHookOptions } from "../auth/index.js";
import { BanStore, Netfilter } from "../netfilter/index.js";
import { MemoryLimitStore, RateLimiter, type RateLimitHookOptions } from "../limits/index.js";
import {
  AccessLog,
  AuditLog,
  UsageStore,
  utcDay,
  type AccessLogHookOptions,
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

export interface AccessOptions {
  logger: Logger;
  /** BULWARK_ADMIN_KEY: imported as the first admin key when the store has none. */
  adminKey?: string;
  /** Admin routes of other subsystems. */
  adminRoutes?: readonly AdminRoutes[];
  now?: () => number;
}

export interface AccessControl {
  gateway: {
    netfilter: Netfilter;
    auth: AuthHookOptions;
    rateLimits: RateLimitHookOptions;
    accessLog: AccessLogHookOptions;
    usage: UsageStore;
  };
  audit: AuditLog;
  admin: FastifyInstance;
  /** Starts the admin listener; resolves to its URL. */
  listenAdmin(): Promise<string>;
  close(): Promise<void>;
}

/** The store, keys, bans, audit and usage of one home directory (also used by the CLI). */
export interface Stores {
  db: Db;
  keys: KeyStore;
  bans: BanStore;
  audit: AuditLog;
  usage: UsageStore;
  keyService: KeyService;
  banService: BanService;
}

export function openStores(config: Readonly<Config>, now: () => number = Date.now): Stores {
  const db = openDatabase(storePath(config.home));
  const keys = new KeyStore(db, now);
  const bans = new BanStore(db, now);
  const audit = new AuditLog(db, join(config.home, "audit.head"), now);
  const usage = new UsageStore(db);
  return {
    db,
    keys,
    bans,
    audit,
    usage,
    keyService: new KeyService(keys, audit, config.security.keyRotationGraceMs),
    banService: new BanService(bans, audit),
  };
}

function bootstrapAdmin(stores: Stores, options: AccessOptions): void {
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

function recordStart(config: Readonly<Config>, audit: AuditLog): void {
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

export async function openAccessControl(
  config: Readonly<Config>,
  options: AccessOptions,
): Promise<AccessControl> {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const stores = openStores(config, now);
  try {
    bootstrapAdmin(stores, options);
    recordStart(config, stores.audit);
  } catch (err) {
    stores.db.close();
    throw err;
  }
  const sec = config.security;
  const netfilter = new Netfilter(
    {
      allow: sec.ipAllow,
      deny: sec.ipDeny,
      trustedProxies: sec.trustedProxies,
      autoBan: sec.autoBan,
      neverBan: sec.autoBan.exempt,
    },
    stores.bans,
    (ban) => {
      logger.warn({ ip: ban.ip, reason: ban.reason, until: ban.expiresAt }, "ip banned");
      stores.audit.append("system", "ban.added", ban.ip, {
        reason: ban.reason,
        expiresAt: ban.expiresAt,
        offences: ban.offences,
        automatic: true,
      });
    },
    now,
  );
  // A daily budget starts from what the usage table already counted today (survives restarts).
  const limitStore = new MemoryLimitStore((key) => {
    const m = /^budget:([^:]+):(\d+)$/.exec(key);
    if (!m) return 0;
    return stores.usage.tokensOn(m[1]!, utcDay(Number(m[2]) * 86_400_000));
  });
  const limiter = new RateLimiter(limitStore, { ipRpm: config.rateLimits.ipRpm }, now);
  const authenticator = new Authenticator(stores.keys, now);
  const countFailure = (ip: string, error: BulwarkError) => {
    if (error.status === 401) netfilter.offence(ip, "auth_failure");
  };
  const accessLog: AccessLogHookOptions = {
    log: config.accessLog.enabled
      ? new AccessLog(
          config.accessLog.file || join(config.home, "logs", "access.log"),
          config.accessLog,
          now,
        )
      : undefined,
    usage: stores.usage,
    now,
  };

  const ctx: AdminContext = {
    keys: stores.keyService,
    bans: stores.banService,
    usage: stores.usage,
    audit: stores.audit,
    keyDefaults: config.rateLimits.keyDefaults,
    now,
  };
  const admin = buildAdminApp({
    logger,
    bodyLimit: config.server.bodyLimit,
    netfilter,
    accessLog,
    auth: {
      authenticator,
      enabled: true,
      // A route without its own permission is for admins only.
      defaultPermission: "keys.admin",
      onFailure: (ip: string, error: BulwarkError, request: FastifyRequest) => {
        countFailure(ip, error);
        stores.audit.append(ip, "admin.auth_failed", request.ctx.path, {
          code: error.code,
          keyId: request.ctx.key?.id,
        });
      },
    },
    routes: [keyRoutes(ctx), banRoutes(ctx), auditRoutes(ctx), ...(options.adminRoutes ?? [])],
    audit: (actor, action, target, details) => stores.audit.append(actor, action, target, details),
  });

  return {
    gateway: {
      netfilter,
      auth: {
        authenticator,
        enabled: sec.auth,
        // Each public route declares its permission; a request that matches none needs a key
        // that may generate before it learns the route does not exist.
        defaultPermission: "inference",
        onFailure: countFailure,
      },
      rateLimits: {
        limiter,
        onRefused: (ip) => netfilter.offence(ip, "rate_limited"),
      },
      accessLog,
      usage: stores.usage,
    },
    audit: stores.audit,
    admin,
    listenAdmin: () =>
      admin.listen({ host: config.server.adminHost, port: config.server.adminPort }),
    close: async () => {
      await admin.close();
      await limitStore.close();
      accessLog.log?.close();
      stores.db.close();
    },
  };
}
