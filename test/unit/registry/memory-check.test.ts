import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { loadConfig } from "../../../src/config/index.js";
import { BulwarkError } from "../../../src/errors/index.js";
import type { MemoryEstimator } from "../../../src/guards/index.js";
import { silentLogger } from "../../../src/observability/index.js";
import { assertModelFits, estimateModel, RegistryServing } from "../../../src/registry/index.js";
import { tempRegistry } from "../../helpers/registry.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const MiB = 1024 * 1024;
const model = storiesModel();

/** 100 MiB a replica: 60 of weights, 10 of KV cache, 30 of process. */
const fixed: MemoryEstimator = {
  estimate: async () => ({
    totalBytes: 100 * MiB,
    weightsBytes: 60 * MiB,
    kvCacheBytes: 10 * MiB,
    overheadBytes: 30 * MiB,
  }),
};
const reading = async () => ({ usedBytes: 600 * MiB, limitBytes: 1000 * MiB, source: "test" });
const spec = { modelPath: "/m.gguf", contextSize: 512, slots: 2 };

test("a model's estimate is its replicas', each with its weights, KV cache and process", async () => {
  assert.deepEqual(await estimateModel(fixed, spec, 3), {
    totalBytes: 300 * MiB,
    weightsBytes: 180 * MiB,
    kvCacheBytes: 30 * MiB,
    overheadBytes: 90 * MiB,
  });
});

test("a registry load over the warn threshold is admission's refusal, with the numbers", async () => {
  const deps = { estimator: fixed, memory: reading, pendingBytes: 0, warnPercent: 80 };
  const fits = await assertModelFits({ model: "s:1", spec, replicas: 2 }, deps);
  assert.equal(fits.totalBytes, 200 * MiB);
  const err = await assertModelFits({ model: "s:2", spec, replicas: 3 }, deps).then(
    () => assert.fail("a load to 900 of 1000 MiB passed an 80% threshold"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BulwarkError);
  assert.equal(err.code, "model_load_refused_memory");
  assert.equal(err.status, 503);
  assert.equal(err.responseHeaders()["retry-after"], "30");
  assert.deepEqual(Object.keys(err.toBody().error), ["message", "type", "param", "code"]);
  assert.match(err.message, /^Loading 3 replicas of model s:2 needs an estimated 300\.0 MiB/);
  assert.match(err.message, /weights 180\.0 MiB, KV cache 30\.0 MiB, process 90\.0 MiB/);
  assert.match(err.message, /600\.0 MiB is in use/);
  assert.match(err.message, /900\.0 MiB of the 1000\.0 MiB limit \(90\.0%\)/);
  assert.match(err.message, /warn threshold of 80% \(800\.0 MiB\)/);
});

async function serving(t: TestContext, guards: Record<string, unknown>) {
  const r = tempRegistry(0);
  t.after(r.cleanup);
  await r.registry.import(model!, { name: "stories" });
  const config = loadConfig({
    env: {},
    cwd: process.cwd(),
    overrides: { registry: { dir: r.registry.layout.dir }, engine: { replicas: 1 }, guards },
  });
  return new RegistryServing({
    registry: r.registry,
    config,
    logger: silentLogger(),
    memory: { read: reading },
    estimator: fixed,
  });
}

const entries = [
  { name: "a", path: "registry:stories" },
  { name: "b", path: "registry:stories:1" },
];

test("the registry's check at start follows guards.warnPercent and counts the models before", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  // 600 in use + 100 + 100 of 1000 MiB: both fit under 85%.
  const roomy = await serving(t, { warnPercent: 85, shedPercent: 90 });
  assert.equal((await roomy.resolveEntries(entries)).length, 2);
  // Under 75% the first fits (700 MiB) and the second, counted after it, does not (800 MiB).
  const tight = await serving(t, { warnPercent: 75 });
  await assert.rejects(tight.resolveEntries(entries), (err: BulwarkError) => {
    assert.equal(err.code, "model_load_refused_memory");
    assert.match(err.message, /model stories:1 .* 100\.0 MiB is reserved by loads in progress/);
    assert.match(err.message, /warn threshold of 75%/);
    return true;
  });
});

test("the registry's check is off with the guards", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const off = await serving(t, {
    enabled: false,
    warnPercent: 1,
    shedPercent: 1,
    reclaimPercent: 1,
  });
  assert.equal((await off.resolveEntries(entries)).length, 2);
});
