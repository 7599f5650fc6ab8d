/**
 * Start step: the Files and Batch API (src/batch/). The ledger lives in the store's SQLite
 * file, the files under <home>/files (in every backup); the runner sends each line through the public app
 * (bound once it is built) in the batch lane, and starts once the API listens. On close it stops
 * taking lines first and lets those in flight finish within the drain deadline.
 */
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import type { Db } from "../store/index.js";
import type { KeyRecord } from "../auth/index.js";
import type { Keyring } from "../crypto/index.js";
import { batchBodyParsers, type GatewayBatch, type ModelCatalog } from "../gateway/index.js";
import {
  BatchLedger,
  BatchLineIdentity,
  BatchRunner,
  BatchService,
  FileService,
  FileStore,
  InjectExecutor,
  plainLines,
  sealedLines,
  registerBatchAdminRoutes,
  type Injector,
  type RunnerObserver,
} from "../batch/index.js";
import type { ResourceStack } from "./resources.js";

export interface BatchStepOptions {
  logger: Logger;
  db: Db;
  models: ModelCatalog;
  /** With auth on: a key's record by id, if it may still be used (Authenticator.byId). */
  keyById?: (id: string, ip: string) => KeyRecord;
  observer?: Partial<RunnerObserver>;
  /** The data keys: with them every line of every batch file is sealed at rest. */
  keyring?: Keyring;
}

export interface BatchStep {
  /** The gateway's part; undefined with batch.enabled off. */
  gateway: GatewayBatch | undefined;
  /** The app the lines go through. */
  bind(app: FastifyInstance): void;
  /** Recovers the ledger and starts running lines. */
  start(): void;
  registerAdminRoutes(
    admin: FastifyInstance,
    audit: Parameters<typeof registerBatchAdminRoutes>[1]["audit"],
  ): void;
}

export function openBatch(
  config: Readonly<Config>,
  o: BatchStepOptions,
  resources: ResourceStack,
): BatchStep {
  const settings = config.batch;
  if (!settings.enabled) {
    return {
      gateway: undefined,
      bind: () => undefined,
      start: () => undefined,
      registerAdminRoutes: () => undefined,
    };
  }
  const ledger = new BatchLedger(o.db);
  const store = new FileStore(config.home, o.keyring ? sealedLines(o.keyring) : plainLines);
  const files = new FileService(
    ledger,
    store,
    {
      maxFileBytes: settings.maxFileBytes,
      maxFilesPerKey: settings.maxFilesPerKey,
      maxBytesPerKey: settings.maxBytesPerKey,
      maxLineBytes: config.server.bodyLimit,
    },
    () => ({
      maxRequests: settings.maxRequestsPerBatch,
      parsers: batchBodyParsers,
      modelServed: (name) => o.models.get(name) !== undefined,
    }),
  );
  const batches = new BatchService(ledger, files, settings);
  const identity = new BatchLineIdentity();
  let app: Injector | undefined;
  const executor = new InjectExecutor(identity, () => {
    if (!app) throw new Error("the batch runner runs before the API is built");
    return app;
  });
  const runner = new BatchRunner(
    ledger,
    store,
    executor,
    { concurrency: settings.concurrency, maxAttempts: settings.maxAttempts },
    o.logger.child({ component: "batch" }),
    o.observer,
  );
  batches.onWork(() => runner.wake());
  return {
    gateway: {
      files,
      batches,
      settings: { maxFileBytes: settings.maxFileBytes },
      lines: {
        identity,
        ownerOf: (id) => ledger.batch(id)?.owner,
        ...(o.keyById ? { keyById: o.keyById } : {}),
      },
    },
    bind: (built) => {
      app = built as unknown as Injector;
    },
    start: () => {
      runner.start();
      resources.push("batch runner", () => runner.close(config.server.drainTimeoutMs));
    },
    registerAdminRoutes: (admin, audit) => registerBatchAdminRoutes(admin, { batches, audit }),
  };
}
