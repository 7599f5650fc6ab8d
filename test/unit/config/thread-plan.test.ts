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
