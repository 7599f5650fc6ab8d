import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryGuard, type ResourceSample } from "../../../src/guards/index.js";
import { silentLogger } from "../../../src/observability/index.js";
import { testSpec } from "../../helpers/server.js";

function sample(percent: number): ResourceSample {
  return {
    at: 0,
    memory: { usedBytes: percent * 10, limitBytes: 1000, source: "test" },
    memoryPercent: percent,
    cpuRatio: 0,
    processes: [],
  };
}

function setup(idleModels: string[] = []) {
  let now = 0;
  const calls: string[] = [];
  const guard = new MemoryGuard({
    warnPercent: 80,
    shedPercent: 90,
    reclaimPercent: 95,
    hysteresisPercent: 5,
    reclaimCooldownMs: 1000,
    ladderStepMs: 1000,
    ladders: { big: { maxTokens: 32, slots: 2 } },
    logger: silentLogger(),
    now: () => now,
    reclaim: {
      clearCaches: () => (calls.push("clear"), ["grammar"]),
      unloadIdle: () => (calls.push("unload"), ["big#1.1"]),
      unloadIdleModel: () => {
        const model = idleModels.shift();
        if (model) calls.push(`unload ${model}`);
        return model;
      },
      stopLargestWorker: () => (
        calls.push("stop"),
        { model: "big", replica: "big#0.1", rssBytes: 9 }
      ),
      reloadUnloaded: () => void calls.push("reload"),
    },
  });
  return { guard, calls, tick: (ms: number) => (now += ms) };
}

test("shedding starts at the shed level and ends below the resume watermark", () => {
  const { guard } = setup();
  guard.observe(sample(85));
  assert.equal(guard.shedding(), undefined);
  guard.observe(sample(90));
  assert.equal(guard.shedding()?.retryAfterSeconds, 1);
  guard.observe(sample(86));
  assert.ok(guard.shedding(), "still above the 85% watermark");
  guard.observe(sample(84));
  assert.equal(guard.shedding(), undefined);
});

test("reclaim clears caches and unloads idle replicas first, then stops the largest worker once per cooldown", () => {
  const { guard, calls, tick } = setup();
  guard.observe(sample(96));
  assert.deepEqual(calls, ["clear", "unload"]);
  tick(500);
  guard.observe(sample(96));
  assert.deepEqual(calls, ["clear", "unload"], "cooldown not over");
  tick(500);
  guard.observe(sample(97));
  assert.deepEqual(calls, ["clear", "unload", "stop"]);
  tick(1000);
  guard.observe(sample(70));
  assert.deepEqual(
    calls,
    ["clear", "unload", "stop", "reload"],
    "back to ok reloads what was unloaded",
  );
  const actions = guard.health().recent_actions.map((a) => a.action);
  assert.ok(actions.includes("stop_largest_worker"));
});

test("reclaim unloads idle models, one per cooldown, before it stops a busy worker", () => {
  const { guard, calls, tick } = setup(["small", "tiny"]);
  guard.observe(sample(96));
  assert.deepEqual(calls, ["clear", "unload"]);
  for (let i = 0; i < 3; i++) {
    tick(1000);
    guard.observe(sample(96));
  }
  assert.deepEqual(calls, ["clear", "unload", "unload small", "unload tiny", "stop"]);
  const details = guard
    .health()
    .recent_actions.filter((a) => a.action === "unload_idle_model")
    .map((a) => a.detail);
  assert.deepEqual(details, ["small", "tiny"]);
});

test("the ladder lowers max_tokens and the slots of new workers under pressure, and recovers", () => {
  const { guard, tick } = setup();
  const spec = testSpec({ id: "big#0.1", modelName: "big" });
  guard.observe(sample(82));
  assert.equal(guard.degradation("big").step, 1);
  assert.equal(guard.adjustSpec(spec).slots, 2);
  assert.equal(guard.maxTokensCap("big"), undefined);
  tick(1000);
  guard.observe(sample(82));
  assert.equal(guard.maxTokensCap("big"), 32);
  assert.equal(guard.maxTokensCap("other"), undefined);
  tick(1000);
  guard.observe(sample(50));
  assert.equal(guard.degradation("big").step, 1);
  tick(1000);
  guard.observe(sample(50));
  assert.equal(guard.degradation("big").step, 0);
  assert.equal(guard.adjustSpec(spec), spec);
});
