/**
 * The composition root: the one place that chooses every concrete part (stores, memory
 * source, engine workers, sinks), wires them in order, and closes them in reverse through one
 * stack of resources, on shutdown and on a start that fails halfway. The steps live in
 * src/start/; this file says their order.
 */
import { availableParallelism, hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { checkBinding, type Config, type ModelEntry } from "./config/index.js";
import { createLogger, registerAlertAdminRoutes, type Logger } from "./observability/index.js";
import type { ReplicaFactory } from "./engine/index.js";
import { GrammarCompiler, StaticModelCatalog } from "./gateway/index.js";
import {
  registerGuardAdminRoutes,
  type MemoryEstimator,
  type MemorySource,
  type ProcessProbe,
} from "./guards/index.js";
import { recordStart, type AdminRoutes } from "./admin/index.js";
import {
  registerRegistryAdminRoutes,
  registryDir,
  type RegistryAlert,
  type RegistryServing,
} from "./registry/index.js";
import { BackupService, configFileInUse, registerBackupAdminRoutes } from "./backup/index.js";
import { ResourceStack } from "./start/resources.js";
import { buildWatch } from "./start/guards.js";
import { openAccess } from "./start/access.js";
import { buildPublicApi } from "./start/gateway.js";
import { openBatch } from "./start/batch.js";
import { buildCache } from "./start/cache.js";
import {
  LiveHosts,
  backendsIdentity,
  openModelRegistry,
  planModels,
  startModels,
} from "./start/models.js";
import { buildDashboard } from "./start/dashboard.js";
import { Keyring } from "./crypto/index.js";

export interface StartOptions {
  logger?: Logger;
  /** Replaces the llama.cpp workers (tests and the gateway benchmark use the fake engine). */
  replicaFactory?: ReplicaFactory;
  /** Models to serve when the config names none (the built-in demo model). */
  defaultModels?: () => Promise<{ entry: ModelEntry; description?: string }[]>;
  /** Cores to split between workers; defaults to os.availableParallelism(). */
  cores?: number;
  /** Replaces the memory guard's source, also read by the registry's check before a load
   * (tests inject readings). */
  memorySource?: MemorySource;
  /** Replaces the /proc reader of process RSS and CPU. */
  processProbe?: ProcessProbe;
  /** Replaces the load-size estimator of admission and of the registry's check. */
  memoryEstimator?: MemoryEstimator;
  /** BULWARK_ADMIN_KEY: the first admin key, imported when the store has no key. */
  adminKey?: string;
  /** `serve --insecure`: allow auth off on a non-loopback address. */
  insecure?: boolean;
  /** Admin API routes of other subsystems, served on the admin listener. */
  adminRoutes?: readonly AdminRoutes[];
  /** Called on a damaged registry model, its repair, or a failed verification. */
  onRegistryAlert?: (alert: RegistryAlert) => void;
  /** The config file given with --config, kept in each backup (default: $BULWARK_CONFIG or
   * ./bulwark.yaml, as the config was loaded). */
  configFile?: string;
  /** The data keys that seal text at rest; default: the environment's (Keyring.fromEnv). */
  keyring?: Keyring;
}

export interface RunningServer {
  /** Base URL of the public API, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Base URL of the admin API, e.g. http://127.0.0.1:8081 */
  adminUrl: string;
  models: StaticModelCatalog;
  /** The model registry when a model is served from it (`registry:NAME`). */
  registry: RegistryServing | undefined;
  /** Drains and stops everything; safe to call twice. */
  close(): Promise<void>;
}

/** Starts the server; resolves once it listens (models keep loading; /readyz tells when). */
export async function startServer(
  config: Readonly<Config>,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger({ level: config.log.level });
  const resources = new ResourceStack(logger);
  try {
    return await start(config, options, logger, resources);
  } catch (err) {
    await resources.close();
    throw err;
  }
}

/**
 * The start, in order. What is opened goes on the stack, so that closing runs the other way:
 * stop accepting → drain and stop the models → the registry → the API's connections → the
 * grammar thread → the admin listener, limits, access log and store → the guard → telemetry.
 */
async function start(
  config: Readonly<Config>,
  options: StartOptions,
  logger: Logger,
  resources: ResourceStack,
): Promise<RunningServer> {
  const startedAt = Date.now();
  const instance = instanceId(config);
  logger = logger.child({ instance });
  checkBinding(config, options.insecure ?? false);
  const planned = await planModels(
    config,
    options.cores ?? availableParallelism(),
    options.defaultModels,
  );
  let address = "";
  let draining = false;
  let drainMs = 0; // a failed start stops its models at once
  const live = new LiveHosts();
  let stateUp: () => boolean = () => true;
  // Holds no thread until its first use; it closes after the API's connections.
  const grammar = new GrammarCompiler(config.limits.grammarTimeoutMs, (hit) =>
    telemetry.metrics.cacheLookup("grammar", hit),
  );

  const { telemetry, guards, estimator, ...watch } = buildWatch(
    config,
    {
      logger,
      hosts: () => live.list(),
      caches: [
        { name: "grammar", clear: () => grammar.clearCache() },
        { name: "response", clear: () => cache.clear() },
      ],
      address: () => address,
      memorySource: options.memorySource,
      processProbe: options.processProbe,
      memoryEstimator: options.memoryEstimator,
      instanceId: instance,
      stateUp: () => stateUp(),
    },
    resources,
  );
  const access = openAccess(
    config,
    {
      logger,
      adminKey: options.adminKey,
      adminRoutes: options.adminRoutes ?? [],
      instance,
      onStateFallback: (op, policy) => telemetry.metrics.stateFallback(op, policy),
    },
    resources,
  );
  stateUp = () => access.state.up();
  resources.push("grammar compiler", () => grammar.close());
  // The models are known once the registry resolved them; the cache reads them at each use.
  const served: {
    models: readonly { name: string; path: string | undefined; identity?: string }[];
    registry?: RegistryServing;
  } = { models: [] };
  const keyring = options.keyring ?? Keyring.fromEnv();
  const cache = buildCache(config, {
    logger,
    keyring,
    instance,
    db: access.db,
    observer: telemetry.metrics.responseCache,
    redis: access.state.redis,
    models: () => served.models,
    serving: () => served.registry,
    keyExists: access.keyExists,
  });

  // Filled by startModels below; the gateway reads it per request.
  const catalog = new StaticModelCatalog();
  const authenticator = access.gateway.auth?.authenticator;
  const batch = openBatch(
    config,
    {
      logger,
      db: access.db,
      models: catalog,
      ...(authenticator && config.security.auth
        ? { keyById: (id: string, ip: string) => authenticator.byId(id, ip) }
        : {}),
      observer: { line: (outcome) => telemetry.metrics.batchLine(outcome) },
      keyring,
    },
    resources,
  );
  const api = buildPublicApi(
    {
      config,
      models: catalog,
      logger,
      grammar,
      startedAt,
      guard: guards?.guard,
      observer: telemetry.gatewayObserver,
      metrics: telemetry.metrics,
      alerts: telemetry.alerts,
      cache: cache.gateway,
      ...access.gateway,
      batch: batch.gateway,
    },
    () => draining,
    resources,
  );
  batch.bind(api.app);

  const registry = await openModelRegistry(
    config,
    planned,
    {
      logger,
      memory: guards?.memory,
      estimator,
      onAlert: (a: RegistryAlert) => {
        options.onRegistryAlert?.(a);
        telemetry.modelIntegrity(a);
        // Answers generated from a damaged file must not outlive it.
        if (a.kind === "model_corrupted" || a.kind === "model_restored") {
          cache.dropRegistryModel(a.model);
        }
      },
    },
    resources,
  );
  served.registry = registry.serving;
  served.models = registry.plan.map((p) => ({
    name: p.entry.name,
    path: p.entry.path,
    identity: p.entry.path === undefined ? backendsIdentity(p.entry) : undefined,
  }));
  cache.start();
  resources.push("cache background work", () => cache.close());
  watch.start();
  startModels(
    config,
    registry.plan,
    {
      logger,
      replicaFactory: options.replicaFactory,
      admit: (factory) => (guards ? guards.wrapFactory(factory) : factory),
      serving: registry.serving,
      live,
      observer: telemetry.modelObserver,
      backendObserver: telemetry.metrics.backend,
      drainMs: () => drainMs,
      catalog,
    },
    resources,
  );

  // The admin routes of the guard, the alerts and the registry, on the admin listener.
  registerGuardAdminRoutes(access.admin, { guard: guards?.guard });
  registerAlertAdminRoutes(access.admin, telemetry.alerts);
  cache.registerAdminRoutes(access.admin);
  registerRegistryAdminRoutes(access.admin, {
    registry: registry.registry,
    serving: registry.serving,
    logger,
  });
  const audit = access.audit;
  const backups = new BackupService({
    config,
    registryDir: registryDir(config),
    logger,
    observer: telemetry.backupObserver,
    audit: (...entry) => audit.append(...entry),
    configFile: configFileInUse(options.configFile),
  });
  resources.push("backups", () => backups.close());
  registerBackupAdminRoutes(access.admin, {
    backups,
    audit: (...entry) => audit.append(...entry),
  });
  batch.registerAdminRoutes(access.admin, (...entry) => audit.append(...entry));
  // The dashboard's live feed and the unload/reload routes, on the admin listener.
  const dashboard = buildDashboard(
    config,
    {
      admin: access.admin,
      telemetry,
      hosts: () => live.list(),
      registry: registry.registry,
      serving: registry.serving,
      guard: guards?.guard,
    },
    resources,
  );
  await access.state.settled();
  address = await api.listen();
  batch.start();
  const adminAddress = await access.admin.listen({
    host: config.server.adminHost,
    port: config.server.adminPort,
  });
  recordStart(config, access.audit);
  registry.serving?.start();
  backups.start();
  dashboard.start();
  logger.info({ url: address, models: registry.plan.map((p) => p.entry.name) }, "listening");
  logger.info({ url: adminAddress }, "admin API listening");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      const delayMs = config.server.shutdownDelayMs;
      if (delayMs > 0) {
        // /readyz is 503 from now on; requests are still served (each closing its connection)
        // until the load balancer has noticed and sends no more.
        logger.info({ delayMs }, "leaving: /readyz is 503; serving until the balancer moves away");
        await new Promise((r) => setTimeout(r, delayMs));
      }
      drainMs = config.server.drainTimeoutMs;
      logger.info({ deadlineMs: drainMs }, "draining: no new requests; finishing in-flight ones");
      await resources.close();
      logger.info("stopped");
      logger.flush();
    })());
  return {
    url: address,
    adminUrl: adminAddress,
    models: catalog,
    registry: registry.serving,
    close,
  };
}

/**
 * This instance's id: instance.id, else hostname:port (with a random suffix when the port is
 * chosen by the system, so that two such instances on one host still differ).
 */
export function instanceId(config: Readonly<Config>): string {
  if (config.instance.id) return config.instance.id;
  const port = config.server.port || `0-${randomBytes(3).toString("hex")}`;
  return `${hostname()}:${port}`;
}

/** Runs the server until SIGTERM or SIGINT, then drains; resolves to the exit code. */
export async function runServer(
  config: Readonly<Config>,
  options: StartOptions = {},
): Promise<number> {
  const server = await startServer(config, options);
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        console.error(`bulwark: second ${signal}; exiting without draining`);
        process.exit(1);
      }
      void server.close().then(resolve);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return 0;
}
