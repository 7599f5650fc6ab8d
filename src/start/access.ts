/**
 * Start step: access protection, from the config. Chooses the SQLite store under `home`, the
 * state backend (state.ts), the access log file, and builds the IP filter, the rate limiter, the
 * authenticator and the admin listener's app over them. Each part that holds a resource goes
 * on the stack.
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import type { BulwarkError } from "../errors/index.js";
import { Authenticator } from "../auth/index.js";
import { Netfilter } from "../netfilter/index.js";
import { RateLimiter } from "../limits/index.js";
import { AccessLog, utcDay, type AccessLogHookOptions, type AuditLog } from "../audit/index.js";
import {
  bootstrapAdmin,
  buildAdminListener,
  openStores,
  type AdminRoutes,
  type Stores,
} from "../admin/index.js";
import type { GatewayDeps } from "../gateway/index.js";
import type { ResourceStack } from "./resources.js";
import { openState, type StateBackend } from "./state.js";

export interface AccessStepOptions {
  logger: Logger;
  /** BULWARK_ADMIN_KEY: imported as the first admin key when the store has none. */
  adminKey?: string;
  /** Admin routes of other subsystems. */
  adminRoutes: readonly AdminRoutes[];
  /** This instance's id (instance.id, else hostname:port). */
  instance: string;
  /** Told about each limit decision taken while the shared state was down. */
  onStateFallback?: (op: string, policy: string) => void;
  now?: () => number;
}

export interface Access {
  /** The edge parts of the public API. */
  gateway: Pick<
    GatewayDeps,
    | "netfilter"
    | "auth"
    | "rateLimits"
    | "accessLog"
    | "usage"
    | "usageReader"
    | "state"
    | "instance"
    | "incident"
  >;
  /** The admin listener's app; other subsystems add their routes before it listens. */
  admin: FastifyInstance;
  audit: AuditLog;
  /** The store's database, for subsystems that keep tables beside the keys (cache settings). */
  db: Stores["db"];
  /** True when an API key with this id exists. */
  keyExists(id: string): boolean;
  state: StateBackend;
}

export function openAccess(
  config: Readonly<Config>,
  options: AccessStepOptions,
  resources: ResourceStack,
): Access {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const stores = openStores(config, now, options.instance);
  resources.push("store", () => {
    stores.db.close();
  });
  bootstrapAdmin(stores, options);
  const sec = config.security;
  const state = openState(
    config,
    {
      logger,
      instance: options.instance,
      baseline: budgetBaseline(stores),
      onFallback: options.onStateFallback ?? (() => undefined),
    },
    resources,
  );
  state.replicate(stores);
  const netfilter = ipFilter(config, stores, logger, now, state);
  const accessLog = accessLogFor(config, stores, now);
  resources.push("access log", () => accessLog.log?.close());
  const limiter = new RateLimiter(
    state.limits,
    { ipRpm: config.rateLimits.ipRpm, leaseMs: config.state.leaseMs },
    now,
  );
  const authenticator = new Authenticator(stores.keys, now);
  const countFailure = (ip: string, error: BulwarkError) => {
    if (error.status === 401) void netfilter.offence(ip, "auth_failure");
  };
  const admin = buildAdminListener({
    config,
    logger,
    stores,
    netfilter,
    authenticator,
    accessLog,
    countFailure,
    routes: options.adminRoutes,
    now,
  });
  resources.push("admin listener", () => admin.close());
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
        onRefused: (ip) => void netfilter.offence(ip, "rate_limited"),
        ipSubject: (ip) => stores.bans.subject(ip),
      },
      accessLog,
      usage: stores.usage,
      usageReader: stores.usageReader,
      incident: stores.incident,
      state,
      instance: options.instance,
    },
    admin,
    audit: stores.audit,
    db: stores.db,
    keyExists: (id) => stores.keys.get(id) !== undefined,
    state,
  };
}

/** The IP filter over the ban store; each automatic ban is logged and audited. */
function ipFilter(
  config: Readonly<Config>,
  stores: Stores,
  logger: Logger,
  now: () => number,
  state: StateBackend,
): Netfilter {
  const sec = config.security;
  return new Netfilter(
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
    state.offences,
  );
}

/** The access log file (when on, under `home/logs` unless named) and the usage table. */
function accessLogFor(
  config: Readonly<Config>,
  stores: Stores,
  now: () => number,
): AccessLogHookOptions {
  return {
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
}

/** A daily budget starts from what the usage table already counted that day (it survives
 * restarts). */
function budgetBaseline(stores: Stores): (key: string) => number {
  return (key) => {
    const m = /^budget:([^:]+):(\d+)$/.exec(key);
    if (!m) return 0;
    return stores.usage.tokensOn(m[1]!, utcDay(Number(m[2]) * 86_400_000));
  };
}
