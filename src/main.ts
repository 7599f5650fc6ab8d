/**
 * The one wiring file: builds every subsystem from the config, starts them, and stops them in
 * reverse order (stop accepting, drain in-flight requests, stop workers, flush logs).
 */
import { accessSync, constants } from "node:fs";
import { availableParallelism } from "node:os";
import {
  checkBinding,
  checkModelsToServe,
  checkLadderModels,
  invalidConfig,
  invalidField,
  planThreads,
  type Config,
  type ModelEntry,
} from "./config/index.js";
import {
  createLogger,
  registerAlertAdminRoutes,
  Telemetry,
  type Logger,
} from "./observability/index.js";
import type { ReplicaFactory, ReplicaSpec } from "./engine/index.js";
import { LlamaCppReplica } from "./engine/llama-cpp/index.js";
import {
  LlamaServerReplica,
  llamaServerPath,
  missingBinaryMessage,
} from "./engine/llama-server/index.js";
import { ModelHost } from "./supervisor/index.js";
import { buildGateway, GrammarCompiler, StaticModelCatalog } from "./gateway/index.js";
import {
  BudgetMemorySource,
  GuardRuntime,
  guardGauges,
  ProcProbe,
  SystemMemorySource,
  ToolkitMemoryEstimator,
  type MemoryEstimator,
  type MemorySource,
  type ProcessProbe,
  registerGuardAdminRoutes,
} from "./guards/index.js";
import { openAccessControl, type AdminRoutes } from "./admin/index.js";
import {
  openRegistryServing,
  type RegistryAlert,
  type RegistryServing,
  openRegistry,
  registerRegistryAdminRoutes,
} from "./registry/index.js";

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

function checkModelFile(entry: ModelEntry, index: number): void {
  try {
    accessSync(entry.path, constants.R_OK);
  } catch {
    throw invalidField(`models[${index}].path`, `cannot read the model file for "${entry.name}"`);
  }
}

/** The replica factory of engine.backend; a missing llama-server binary stops the start. */
function engineFactory(config: Readonly<Config>, logger: Logger): ReplicaFactory {
  const engine = config.engine;
  const common = {
    heartbeatIntervalMs: engine.heartbeatIntervalMs,
    loadTimeoutMs: engine.loadTimeoutMs,
    testHooks: engine.testHooks,
    logger,
  };
  if (engine.backend === "llama-server") {
    const binary = llamaServerPath(engine.llamaServerBinary);
    const missing = missingBinaryMessage(binary);
    if (missing) throw invalidConfig([missing]);
    return (spec: ReplicaSpec) => new LlamaServerReplica(spec, { ...common, binary });
  }
  return (spec: ReplicaSpec) => new LlamaCppReplica(spec, common);
}

/** Starts the server; resolves once it listens (models keep loading; /readyz tells when). */
export async function startServer(
  config: Readonly<Config>,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger({ level: config.log.level });
  const startedAt = Date.now();
  checkBinding(config, options.insecure ?? false);
  let sources: { entry: ModelEntry; description?: string }[] = config.models.map((entry) => ({
    entry,
  }));
  checkModelsToServe(config, options.defaultModels !== undefined);
  if (sources.length === 0 && options.defaultModels) sources = await options.defaultModels();
  // The pure checks of the plan first, before the registry reads (and may repair) any file.
  const cores = options.cores ?? availableParallelism();
  let plan = planThreads(sources, config.engine, cores);
  checkLadderModels(
    config.guards.ladder,
    plan.map((p) => p.entry.name),
  );
  // The served models (a registry model is a swappable wrapper), and every ModelHost under them
  // for the memory guard, which unloads and stops workers; a host retired by a swap drops out.
  const hosts: Pick<ModelHost, "start" | "close">[] = [];
  let modelHosts: ModelHost[] = [];
  const grammar = new GrammarCompiler(config.limits.grammarTimeoutMs, (hit) =>
    telemetry.metrics.cacheLookup("grammar", hit),
  );
  let address = "";
  const liveHosts = () => (modelHosts = modelHosts.filter((h) => !h.isClosing));
  // Built first (started below): the registry's checks read the guard's memory and estimator,
  // and send a damaged model file or its repair to the alerts.
  const g = config.guards;
  let guards: GuardRuntime | undefined = undefined;
  const telemetry = new Telemetry({
    alerts: config.alerts,
    memoryWarnPercent: g.warnPercent,
    logger,
    instance: () => address,
    ready: () => {
      const all = liveHosts();
      return all.length > 0 && all.every((h) => h.isReady() || h.isUnloaded());
    },
    state: {
      models: () =>
        liveHosts().map((h) => {
          const s = h.status();
          return {
            name: s.name,
            running: s.slots.busy,
            waiting: s.queue.waiting,
            busySlots: s.slots.busy,
            totalSlots: s.slots.total,
            ready: s.ready,
            unloaded: s.unloaded,
          };
        }),
      ...guardGauges(g, () => guards),
    },
  });
  const estimator = options.memoryEstimator ?? new ToolkitMemoryEstimator(g.workerOverheadBytes);
  if (g.enabled) {
    guards = new GuardRuntime({
      settings: g,
      logger,
      hosts: liveHosts,
      caches: [{ name: "grammar", clear: () => grammar.clearCache() }],
      memory:
        options.memorySource ??
        (g.memoryBudgetBytes > 0
          ? new BudgetMemorySource(g.memoryBudgetBytes, () => guards?.ownRssBytes() ?? 0)
          : new SystemMemorySource()),
      probe: options.processProbe ?? new ProcProbe(),
      estimator,
      observer: telemetry.guardObserver,
    });
  }
  // `registry:NAME[:VERSION]` paths: integrity check with repair from backup, memory check.
  const registry = await openRegistryServing(
    config,
    sources.map((s) => s.entry),
    {
      logger,
      memory: guards?.memory,
      estimator,
      onAlert: (a: RegistryAlert) => {
        options.onRegistryAlert?.(a);
        telemetry.modelIntegrity(a);
      },
    },
  );
  if (registry) plan = plan.map((p, i) => ({ ...p, entry: registry.entries[i]! }));
  if (!options.replicaFactory) plan.forEach((p, i) => checkModelFile(p.entry, i));

  const baseFactory: ReplicaFactory = options.replicaFactory ?? engineFactory(config, logger);
  const engine = config.engine;
  guards?.start();
  telemetry.start();
  // Every load (start, restart, reload) passes the memory admission first.
  const factory = guards ? guards.wrapFactory(baseFactory) : baseFactory;
  const supervision = {
    heartbeatTimeoutMs: engine.heartbeatTimeoutMs,
    progressTimeoutMs: engine.progressTimeoutMs,
    restartBackoffMs: engine.restartBackoffMs,
    restartBackoffMaxMs: engine.restartBackoffMaxMs,
    stableAfterMs: engine.stableAfterMs,
    watchdogIntervalMs: Math.max(10, Math.min(250, engine.heartbeatIntervalMs)),
  };

  const catalog = new StaticModelCatalog();
  for (const p of plan) {
    const makeHost = (modelPath: string) => {
      const made = new ModelHost(
        p.entry.name,
        {
          modelName: p.entry.name,
          modelPath,
          slots: p.entry.slots ?? engine.slots,
          threads: p.threads,
          contextSize: p.entry.contextSize ?? engine.contextSize,
          batchSize: engine.batchSize,
          gpu: p.entry.gpu ?? engine.gpu,
          chatWrapper: p.entry.chatWrapper ?? "auto",
        },
        p.replicas,
        factory,
        supervision,
        config.scheduler,
        logger,
        telemetry.modelObserver,
      );
      modelHosts.push(made);
      return made;
    };
    const plain = makeHost(p.entry.path);
    const host = registry ? registry.serving.wrap(p.entry.name, plain, makeHost) : plain;
    hosts.push(host);
    catalog.add({ model: host, description: p.description });
    logger.info(
      {
        model: p.entry.name,
        replicas: p.replicas,
        threads: p.threads,
        slots: p.entry.slots ?? engine.slots,
      },
      "starting model",
    );
    host.start().catch((err: Error) => {
      logger.error({ model: p.entry.name, err: err.message }, "model failed to start; retrying");
    });
  }

  let draining = false;
  // The registry's admin routes work whether or not this server serves a registry model.
  const adminRegistry = registry?.serving.registry ?? openRegistry(config, { logger });
  const closeRegistry = async () => {
    if (registry) await registry.serving.close();
    else adminRegistry.close();
  };
  let access;
  try {
    access = await openAccessControl(config, {
      logger,
      adminKey: options.adminKey,
      adminRoutes: [
        ...(options.adminRoutes ?? []),
        (admin) => registerGuardAdminRoutes(admin, { guard: guards?.guard }),
        (admin) => registerAlertAdminRoutes(admin, telemetry.alerts),
        (admin) =>
          registerRegistryAdminRoutes(admin, {
            registry: adminRegistry,
            serving: registry?.serving,
            logger,
          }),
      ],
    });
  } catch (err) {
    await Promise.all(hosts.map((h) => h.close(0)));
    await closeRegistry();
    await grammar.close();
    guards?.close();
    await telemetry.close();
    throw err;
  }
  const app = buildGateway(
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
      ...access.gateway,
    },
    { draining: () => draining },
  );
  let adminAddress: string;
  try {
    address = await app.listen({ host: config.server.host, port: config.server.port });
    adminAddress = await access.listenAdmin();
  } catch (err) {
    await app.close();
    await Promise.all(hosts.map((h) => h.close(0)));
    await closeRegistry();
    await grammar.close();
    await access.close();
    guards?.close();
    await telemetry.close();
    throw err;
  }
  registry?.serving.start();
  logger.info({ url: address, models: plan.map((p) => p.entry.name) }, "listening");
  logger.info({ url: adminAddress }, "admin API listening");

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      const deadlineMs = config.server.drainTimeoutMs;
      logger.info({ deadlineMs }, "draining: no new requests; finishing in-flight ones");
      const appClosed = app.close();
      await Promise.all(hosts.map((h) => h.close(deadlineMs)));
      await closeRegistry();
      const grace = new Promise((r) => setTimeout(r, 1_000).unref());
      await Promise.race([appClosed, grace]);
      app.server.closeAllConnections();
      await appClosed;
      await grammar.close();
      await access.close();
      guards?.close();
      await telemetry.close();
      logger.info("stopped");
      logger.flush();
    })();
    return closing;
  };
  return {
    url: address,
    adminUrl: adminAddress,
    models: catalog,
    registry: registry?.serving,
    close,
  };
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
