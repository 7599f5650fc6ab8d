/**
 * Start steps of the models: what to serve (the config's models or the demo model, with the
 * checks that need the start's facts), then the served models themselves: the registry's
 * resolution of `registry:` paths, the replica factory (engine workers unless a test or the
 * gateway benchmark brings its own; `engine.backend` picks node-llama-cpp workers or llama-server
 * processes) behind load admission, and one `ModelHost` per model.
 */
import { createHash } from "node:crypto";
import { accessSync, closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { ModelFormatError, parseGgufHeader } from "../models/index.js";
import {
  checkLadderModels,
  checkModelsToServe,
  invalidConfig,
  invalidField,
  planThreads,
  type Config,
  type ModelEntry,
  type PlannedModel,
} from "../config/index.js";
import type { Logger } from "../observability/index.js";
import type { ReplicaFactory, ReplicaSpec } from "../engine/index.js";
import { LlamaCppReplica } from "../engine/llama-cpp/index.js";
import {
  LlamaServerReplica,
  llamaServerPath,
  missingBinaryMessage,
} from "../engine/llama-server/index.js";
import { BackendGroup, type BackendObserver } from "../engine/remote/index.js";
import { ModelHost, type HostObserver } from "../supervisor/index.js";
import type { StaticModelCatalog } from "../gateway/index.js";
import type { MemoryEstimator, MemorySource } from "../guards/index.js";
import {
  openRegistry,
  openRegistryServing,
  type Registry,
  type RegistryAlert,
  type RegistryServing,
} from "../registry/index.js";
import type { ResourceStack } from "./resources.js";

type ModelSource = { entry: ModelEntry; description?: string };

/**
 * The models to serve and their thread plan. The pure checks come first, before the registry
 * reads (and may repair) any file.
 */
export async function planModels(
  config: Readonly<Config>,
  cores: number,
  defaultModels: (() => Promise<ModelSource[]>) | undefined,
): Promise<PlannedModel[]> {
  checkModelsToServe(config, defaultModels !== undefined);
  let sources: ModelSource[] = config.models.map((entry) => ({ entry }));
  if (sources.length === 0 && defaultModels) sources = await defaultModels();
  const plan = planThreads(sources, config.engine, cores);
  checkLadderModels(
    config.guards.ladder,
    plan.map((p) => p.entry.name),
  );
  return plan;
}

/** Every `ModelHost` made so far, for the guard and the gauges; a host retired by a swap drops out. */
export class LiveHosts {
  private hosts: ModelHost[] = [];

  add(host: ModelHost): void {
    this.hosts.push(host);
  }

  list(): ModelHost[] {
    return (this.hosts = this.hosts.filter((h) => !h.isClosing));
  }
}

export interface RegistryStep {
  /** The serving glue when a model is served from the registry (`registry:NAME`). */
  serving: RegistryServing | undefined;
  /** The registry of the admin routes: the serving one, or one opened for them alone. */
  registry: Registry;
  plan: PlannedModel[];
}

/**
 * `registry:NAME[:VERSION]` paths: integrity check with repair from backup, memory check. The
 * registry's admin routes work whether or not this server serves a registry model.
 */
export async function openModelRegistry(
  config: Readonly<Config>,
  plan: PlannedModel[],
  o: {
    logger: Logger;
    memory: MemorySource | undefined;
    estimator: MemoryEstimator;
    onAlert: (alert: RegistryAlert) => void;
  },
  resources: ResourceStack,
): Promise<RegistryStep> {
  const opened = await openRegistryServing(
    config,
    plan.map((p) => p.entry),
    o,
  );
  if (opened) {
    resources.push("registry", () => opened.serving.close());
    return {
      serving: opened.serving,
      registry: opened.serving.registry,
      plan: plan.map((p, i) => ({ ...p, entry: opened.entries[i]! })),
    };
  }
  const registry = openRegistry(config, { logger: o.logger });
  resources.push("registry", () => registry.close());
  return { serving: undefined, registry, plan };
}

/** Bytes of a model file read at start to check its GGUF header. */
const HEADER_CHECK_BYTES = 4 * 1024 * 1024;

/**
 * The model file must be readable and a GGUF whose header parses: a text file given as a model
 * once started a worker that failed its load and was restarted forever. A header longer than
 * the bytes read here is checked by the worker's load.
 */
function checkModelFile(entry: ModelEntry, index: number): void {
  if (entry.path === undefined) return;
  const field = `models[${index}].path`;
  let fd: number;
  try {
    accessSync(entry.path, constants.R_OK);
    fd = openSync(entry.path, "r");
  } catch {
    throw invalidField(field, `cannot read the model file for "${entry.name}"`);
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, HEADER_CHECK_BYTES));
    const n = readSync(fd, buf, 0, buf.length, 0);
    try {
      parseGgufHeader(buf.subarray(0, n), n === size ? size : undefined);
    } catch (err) {
      if (!(err instanceof ModelFormatError)) throw err;
      if (err.code === "model_truncated" && n < size) return;
      throw invalidField(
        field,
        `"${entry.name}" is not a usable GGUF model (${err.code}: ${err.message})`,
      );
    }
  } finally {
    closeSync(fd);
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
    return (spec: ReplicaSpec) =>
      new LlamaServerReplica(spec, {
        ...common,
        binary,
        promptCacheBytes: engine.promptCacheBytes,
      });
  }
  return (spec: ReplicaSpec) =>
    new LlamaCppReplica(spec, { ...common, nodeOptions: engine.workerNodeOptions });
}

export interface ModelStepOptions {
  logger: Logger;
  /** Replaces the llama.cpp workers (tests and the gateway benchmark use the fake engine). */
  replicaFactory: ReplicaFactory | undefined;
  /** Wraps the factory so that every load (start, restart, reload) passes admission first. */
  admit: (factory: ReplicaFactory) => ReplicaFactory;
  serving: RegistryServing | undefined;
  live: LiveHosts;
  /** Receives queue time, load time and restarts (telemetry). */
  observer: HostObserver;
  /** Receives each remote backend's request outcomes and ejections (telemetry). */
  backendObserver?: BackendObserver;
  /** How long closing hosts wait for their requests: 0 on a failed start. */
  drainMs: () => number;
  /** Receives each served model. */
  catalog: StaticModelCatalog;
}

/** Builds and starts one `ModelHost` per planned model, and adds each to the catalog. */
export function startModels(
  config: Readonly<Config>,
  plan: PlannedModel[],
  o: ModelStepOptions,
  resources: ResourceStack,
): void {
  const { logger } = o;
  const engine = config.engine;
  if (!o.replicaFactory) plan.forEach((p, i) => checkModelFile(p.entry, i));
  // Every load (start, restart, reload) passes the memory admission first.
  const factory = o.admit(o.replicaFactory ?? engineFactory(config, logger));
  const supervision = {
    heartbeatTimeoutMs: engine.heartbeatTimeoutMs,
    progressTimeoutMs: engine.progressTimeoutMs,
    restartBackoffMs: engine.restartBackoffMs,
    restartBackoffMaxMs: engine.restartBackoffMaxMs,
    stableAfterMs: engine.stableAfterMs,
    watchdogIntervalMs: Math.max(10, Math.min(250, engine.heartbeatIntervalMs)),
  };
  // One resource for all: the models drain together, within one deadline.
  const served: Pick<ModelHost, "close">[] = [];
  resources.push("models", async () => {
    await Promise.all(served.map((h) => h.close(o.drainMs())));
  });
  for (const p of plan) {
    const contextSize = p.entry.contextSize ?? engine.contextSize;
    const backends = p.entry.backends ?? [];
    const makeHost = (modelPath: string) => {
      const group =
        backends.length > 0
          ? new BackendGroup(p.entry.name, backends, contextSize, logger, o.backendObserver)
          : undefined;
      const made = new ModelHost(
        p.entry.name,
        {
          modelName: p.entry.name,
          modelPath,
          slots: p.entry.slots ?? engine.slots,
          threads: p.threads,
          contextSize,
          batchSize: engine.batchSize,
          gpu: p.entry.gpu ?? engine.gpu,
          chatWrapper: p.entry.chatWrapper ?? "auto",
        },
        p.maxReplicas > p.replicas
          ? { min: p.replicas, max: p.maxReplicas, autoscale: config.autoscale }
          : p.replicas,
        factory,
        supervision,
        {
          ...config.scheduler,
          backgroundSlotShare: config.batch.slotShare,
          backgroundYieldsTo: config.batch.yieldTo,
        },
        logger,
        o.observer,
        { backends: group, routing: p.entry.routing },
      );
      o.live.add(made);
      return made;
    };
    const plain = makeHost(p.entry.path ?? "");
    const host = o.serving ? o.serving.wrap(p.entry.name, plain, makeHost) : plain;
    served.push(host);
    o.catalog.add({ model: host, description: p.description });
    logger.info(
      {
        model: p.entry.name,
        replicas: p.replicas,
        ...(p.maxReplicas > p.replicas ? { maxReplicas: p.maxReplicas } : {}),
        threads: p.threads,
        slots: p.entry.slots ?? engine.slots,
        backends: backends.map((b) => b.name),
        routing: p.entry.routing ?? "least-outstanding",
      },
      "starting model",
    );
    host.start().catch((err: Error) => {
      logger.error({ model: p.entry.name, err: err.message }, "model failed to start; retrying");
    });
  }
}

/**
 * What stands for the content digest of a model served only by remote backends (its cache
 * keys' model part): the backends' URLs and model names, so that pointing the model at other
 * backends misses the cache.
 */
export function backendsIdentity(entry: ModelEntry): string {
  const backends = (entry.backends ?? []).map((b) => `${b.url} ${b.model ?? entry.name}`).sort();
  return createHash("sha256").update(JSON.stringify(backends)).digest("hex");
}
