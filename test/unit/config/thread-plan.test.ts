import { test } from "node:test";
import assert from "node:assert/strict";
import { loadConfig, planThreads, threadsPerWorker } from "../../../src/config/index.js";

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

test("planThreads: an autoscaled model is planned at its max replicas", () => {
  const engine = loadConfig({ env: {} }).engine;
  const model = (name: string, extra = {}) => ({
    entry: { name, path: `/m/${name}.gguf`, ...extra },
  });
  // 1..4 replicas on 9 cores: threads as if 4 ran from the start (8 usable / 4 = 2 each).
  const [scaled] = planThreads([model("a", { replicas: { min: 1, max: 4 } })], engine, 9);
  assert.deepEqual([scaled!.replicas, scaled!.maxReplicas, scaled!.threads], [1, 4, 2]);
  const both = planThreads(
    [model("a", { replicas: { min: 1, max: 3 } }), model("b", { replicas: 2 })],
    engine,
    6,
  );
  assert.ok(both.reduce((n, p) => n + p.maxReplicas * p.threads, 0) <= 5, "at max, within cores");
  assert.deepEqual(
    both.map((p) => [p.replicas, p.maxReplicas]),
    [
      [1, 3],
      [2, 2],
    ],
  );
  // Explicit threads: threads × max must fit, not threads × min.
  assert.throws(
    () => planThreads([model("a", { replicas: { min: 1, max: 3 }, threads: 1 })], engine, 2),
    /3 llama\.cpp threads in all .*max replicas.* exceed the 2 cores/,
  );
  assert.equal(
    planThreads([model("a", { replicas: { min: 1, max: 2 }, threads: 1 })], engine, 2)[0]!.threads,
    1,
  );
});

test("replicas: a number or {min, max} with min ≤ max; autoscale has documented defaults", () => {
  const load = (replicas: unknown) =>
    loadConfig({ env: {}, overrides: { models: [{ name: "m", path: "/m.gguf", replicas }] } });
  assert.equal(load(3).models[0]!.replicas, 3);
  assert.deepEqual(load({ min: 1, max: 4 }).models[0]!.replicas, { min: 1, max: 4 });
  assert.throws(() => load({ min: 3, max: 2 }), /models\.0\.replicas\.max|min must not exceed max/);
  assert.throws(() => load({ min: 0, max: 2 }), /replicas/);
  assert.throws(() => load({ min: 1 }), /replicas/);
  const a = loadConfig({ env: {} }).autoscale;
  assert.deepEqual(a, {
    intervalMs: 1000,
    upQueueDepth: 2,
    upQueueWaitMs: 2000,
    upWindowMs: 10_000,
    downIdleMs: 120_000,
    downUtilizationPercent: 50,
    cooldownMs: 30_000,
  });
});
