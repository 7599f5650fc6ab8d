/**
 * The gateway app alone, for Fastify's inject(): fake-engine models behind the real ModelHost,
 * no listener, no port, no store and no file. Access control, metrics and the memory guard are
 * left out unless a test passes them in `deps`.
 */
import type { FastifyInstance } from "fastify";
import { loadConfig, replicaRange } from "../../src/config/index.js";
import {
  buildGateway,
  GrammarCompiler,
  StaticModelCatalog,
  type GatewayDeps,
} from "../../src/gateway/index.js";
import type { ReplicaFactory } from "../../src/engine/index.js";
import { ModelHost } from "../../src/supervisor/index.js";
import { capturedLogger, fakeEngine, mergeDeep, type Overrides } from "./server.js";

export interface TestGateway {
  app: FastifyInstance;
  models: StaticModelCatalog;
  /** The fake engine's replicas and controls. */
  engine: ReturnType<typeof fakeEngine>;
  /** Every log line the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Sends a request through inject() and answers as postJson does. */
  request(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<InjectedResponse>;
  close(): Promise<void>;
}

export interface InjectedResponse {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export interface TestGatewayOptions {
  /** The fake engine to serve from (a fresh one by default). */
  engine?: ReturnType<typeof fakeEngine>;
  /** Replaces the fake engine's factory (a replica that loads slowly, say). */
  replicaFactory?: ReplicaFactory;
  /** Wait until every model is ready (default true). */
  waitReady?: boolean;
  /** More of the gateway's parts: a guard, an observer, access hooks. */
  deps?: Partial<GatewayDeps>;
}

/** Builds the gateway over `overrides` (deep-merged into the config) and starts its models. */
export async function buildTestGateway(
  overrides: Overrides = {},
  options: TestGatewayOptions = {},
): Promise<TestGateway> {
  const config = loadConfig({
    env: {},
    overrides: mergeDeep({ log: { level: "info" }, security: { auth: false } }, overrides),
    cwd: process.cwd(),
  });
  const { logger, logs } = capturedLogger(config.log.level);
  const engine = options.engine ?? fakeEngine();
  const { engine: e } = config;
  const models = new StaticModelCatalog();
  for (const entry of config.models) {
    const spec = {
      modelName: entry.name,
      modelPath: entry.path ?? "",
      slots: entry.slots ?? e.slots,
      threads: 1,
      contextSize: entry.contextSize ?? e.contextSize,
      batchSize: e.batchSize,
      gpu: entry.gpu ?? e.gpu,
      chatWrapper: entry.chatWrapper ?? "auto",
    };
    const supervision = {
      ...e,
      watchdogIntervalMs: Math.max(10, Math.min(250, e.heartbeatIntervalMs)),
    };
    const host = new ModelHost(
      entry.name,
      spec,
      typeof entry.replicas === "object"
        ? { ...replicaRange(entry, e), autoscale: config.autoscale }
        : (entry.replicas ?? e.replicas),
      options.replicaFactory ?? engine.factory,
      supervision,
      config.scheduler,
      logger,
    );
    models.add({ model: host });
  }
  const started = Promise.all(models.list().map((m) => (m.model as ModelHost).start()));
  if (options.waitReady ?? true) await started;
  else started.catch(() => undefined);
  const grammar = new GrammarCompiler(config.limits.grammarTimeoutMs);
  const app = buildGateway(
    { config, models, logger, grammar, startedAt: Date.now(), ...options.deps },
    { draining: () => false },
  );
  await app.ready();
  return {
    app,
    models,
    engine,
    logs,
    async request(method, url, body, headers = {}) {
      const res = await app.inject({
        method: method as "GET",
        url,
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        payload:
          body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      let json: unknown;
      try {
        json = JSON.parse(res.body);
      } catch {
        json = undefined;
      }
      const out = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(", ") : String(v));
      }
      return { status: res.statusCode, headers: out, json, text: res.body };
    },
    async close() {
      await app.close();
      await Promise.all(models.list().map((m) => (m.model as ModelHost).close(0)));
      await grammar.close();
    },
  };
}
