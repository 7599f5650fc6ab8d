/** Starts a real Bulwark server in-process for tests, on 127.0.0.1 and a free port. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { loadConfig, type ConfigInput } from "../../src/config/index.js";
import { startServer, type RunningServer, type StartOptions } from "../../src/main.js";
import { createLogger } from "../../src/observability/index.js";
import type { ReplicaSpec } from "../../src/engine/index.js";
import { FakeReplica, type FakeEngineControls } from "../../src/engine/fake/fake-replica.js";

export interface TestServer extends RunningServer {
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
  /** The server's home directory (store, logs); a fresh temporary one unless the test set it. */
  home: string;
}

export interface TestServerOptions extends StartOptions {
  /**
   * API keys required (the product's default). Tests that are not about access control leave
   * it off: they listen on 127.0.0.1, where auth off is allowed.
   */
  auth?: boolean;
}

/** Config fields a test sets, deep-merged over the defaults. */
export type Overrides = Partial<{ [K in keyof ConfigInput]: unknown }>;

/**
 * Deep-merged over test defaults: ports 0, log level info into memory, a temporary home, and
 * auth off unless `options.auth` is true.
 */
export async function startTestServer(
  overrides: Overrides = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const { auth = false, ...startOptions } = options;
  const ownHome = overrides.home === undefined;
  const home = ownHome ? mkdtempSync(join(tmpdir(), "bulwark-test-")) : String(overrides.home);
  const base = {
    home,
    server: { port: 0, adminPort: 0 },
    log: { level: "info" },
    security: { auth },
  };
  const merged = mergeDeep(base, overrides as Record<string, unknown>);
  const config = loadConfig({ env: {}, overrides: merged, cwd: process.cwd() });
  const { logger, logs } = capturedLogger(config.log.level);
  const server = await startServer(config, { logger, ...startOptions });
  const close = async () => {
    await server.close();
    if (ownHome) rmSync(home, { recursive: true, force: true });
  };
  return { ...server, close, logs, home };
}

/** A logger whose lines are kept in memory, parsed, for the test to read. */
export function capturedLogger(level: string) {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ level, destination: sink }), logs };
}

/** `b` deep-merged over `a`: objects merge, anything else replaces. */
export function mergeDeep(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object"
        ? mergeDeep(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** A fake engine whose replicas tests can reach (to crash them) and whose pace they can set. */
export function fakeEngine(controls: Partial<FakeEngineControls> = {}) {
  const state: FakeEngineControls = {
    tokenDelayMs: 0,
    firstTokenDelayMs: 0,
    failureRate: 0,
    ...controls,
  };
  const replicas: FakeReplica[] = [];
  const factory = (spec: ReplicaSpec) => {
    const replica = new FakeReplica(spec, state);
    replicas.push(replica);
    return replica;
  };
  return { factory, replicas, controls: state };
}

/** POSTs JSON and returns status, headers and the parsed (or raw) body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return readResponse(res);
}

/** Status, headers and the body as text and, when it parses, as JSON. */
export async function readResponse(
  res: Response,
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Polls until `check` returns true or the time runs out; returns whether it did. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

/** A memory source for the guard whose use the test sets, in percent of a fixed limit. */
export function settableMemory(percent: number, limitBytes = 1e9) {
  const memory = {
    percent,
    source: {
      read: async () => ({
        usedBytes: Math.round((memory.percent / 100) * limitBytes),
        limitBytes,
        source: "test",
      }),
    },
  };
  return memory;
}

/** A replica spec for unit tests, with any field replaced. */
export function testSpec(overrides: Partial<ReplicaSpec> = {}): ReplicaSpec {
  return {
    id: "m#0.1",
    modelName: "m",
    modelPath: "/m.gguf",
    slots: 4,
    threads: 1,
    contextSize: 512,
    batchSize: 512,
    gpu: "cpu",
    chatWrapper: "auto",
    ...overrides,
  };
}
