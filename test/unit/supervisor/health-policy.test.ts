import { test } from "node:test";
import assert from "node:assert/strict";
import {
  backoffDelayMs,
  threadsPerWorker,
  watchdogVerdict,
} from "../../../src/supervisor/index.js";
import { planThreads } from "../../../src/main.js";
import { loadConfig } from "../../../src/config/index.js";

test("restart backoff doubles from the initial delay up to the cap", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n, 500, 10_000)),
    [500, 1000, 2000, 4000, 8000, 10_000, 10_000],
  );
  assert.equal(backoffDelayMs(0, 500, 10_000), 0);
  assert.equal(backoffDelayMs(200, 500, 10_000), 10_000);
});

test("watchdog: silent without heartbeats, hung when busy without tokens", () => {
  const limits = { heartbeatTimeoutMs: 1000, progressTimeoutMs: 5000 };
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 0, lastProgressAt: 0, activeJobs: 0 }, 1000, limits),
    "ok",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 0, lastProgressAt: 0, activeJobs: 0 }, 1001, limits),
    "silent",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 9000, lastProgressAt: 0, activeJobs: 0 }, 9500, limits),
    "ok",
    "idle is not hung",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 9000, lastProgressAt: 4000, activeJobs: 1 }, 9500, limits),
    "hung",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 9000, lastProgressAt: 5000, activeJobs: 1 }, 9500, limits),
    "ok",
  );
});

test("threads split the cores but one between all workers, at least one each", () => {
  assert.equal(threadsPerWorker(1, 1), 1);
  assert.equal(threadsPerWorker(1, 2), 1);
  assert.equal(threadsPerWorker(2, 2), 1);
  assert.equal(threadsPerWorker(3, 2), 1);
  assert.equal(threadsPerWorker(1, 16), 15);
  assert.equal(threadsPerWorker(2, 16), 7);
});

test("planThreads: automatic threads never exceed the cores; explicit excess is refused", () => {
  const engine = loadConfig({ env: {} }).engine;
  const model = (name: string, extra = {}) => ({
    entry: { name, path: `/m/${name}.gguf`, ...extra },
  });
  const auto = planThreads([model("a", { replicas: 2 }), model("b")], engine, 8);
  assert.deepEqual(
    auto.map((p) => [p.replicas, p.threads]),
    [
      [2, 2],
      [1, 2],
    ],
  );
  assert.ok(
    auto.reduce((n, p) => n + p.replicas * p.threads, 0) <= 7,
    "one core stays with the gateway",
  );
  assert.throws(
    () => planThreads([model("a", { replicas: 2, threads: 2 })], engine, 2),
    /4 llama\.cpp threads in all .* exceed the 2 cores/,
  );
  const explicit = planThreads([model("a", { replicas: 2, threads: 1 })], engine, 2);
  assert.equal(explicit[0]!.threads, 1);
});
