import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AlertManager,
  KpiRecorder,
  SlidingWindow,
  kpiRules,
  quantile,
  type AlertEvent,
} from "../../../src/observability/alerts/index.js";

const thresholds = {
  windowMs: 1000,
  memoryPercent: 80,
  cpuPercent: 70,
  latencyP95Ms: 5000,
  errorRatePercent: 1,
  availabilityPercent: 99.9,
  cacheHitPercent: 60,
  modelLoadMs: 30_000,
  minSamples: 10,
};

test("the window keeps only samples within its span", () => {
  const w = new SlidingWindow<number>(1000);
  w.push(1, 0);
  w.push(2, 500);
  w.push(3, 1200);
  assert.deepEqual(w.values(1200), [2, 3]);
  assert.deepEqual(w.values(2600), []);
});

test("P95 by nearest rank", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantile(values, 0.95), 95);
  assert.equal(quantile([7], 0.95), 7);
  assert.equal(quantile([], 0.95), undefined);
});

function setup() {
  let now = 0;
  const events: AlertEvent[] = [];
  const kpi = new KpiRecorder(thresholds.windowMs);
  const manager = new AlertManager({
    rules: kpiRules(kpi, thresholds),
    sinks: [{ send: (e) => events.push(e) }],
    evaluateIntervalMs: 100,
    instance: () => "test",
    now: () => now,
  });
  return { kpi, manager, events, at: (t: number) => (now = t) };
}

test("P95 latency fires over the threshold, resolves when the slow requests leave the window", () => {
  const { kpi, manager, events, at } = setup();
  for (let i = 0; i < 20; i++) kpi.request(i < 19 ? 100 : 9000, 200, 0);
  manager.evaluate();
  assert.equal(events.length, 0, "1 slow of 20 is above the 95th percentile");
  for (let i = 0; i < 5; i++) kpi.request(9000, 200, 10);
  manager.evaluate();
  assert.deepEqual(
    events.map((e) => [e.alert, e.state]),
    [["latency_p95_high", "firing"]],
  );
  assert.equal(manager.active()[0]?.alert, "latency_p95_high");
  at(1500);
  for (let i = 0; i < 10; i++) kpi.request(50, 200, 1500);
  manager.evaluate();
  assert.deepEqual(events.at(-1)?.state, "resolved");
  assert.ok(events.at(-1)?.endsAt);
  assert.equal(manager.active().length, 0);
});

test("error rate needs enough requests, then fires above 1%", () => {
  const { kpi, manager, events } = setup();
  for (let i = 0; i < 5; i++) kpi.request(10, 500, 0);
  manager.evaluate();
  assert.equal(events.length, 0, "5 requests are fewer than minSamples");
  for (let i = 0; i < 95; i++) kpi.request(10, 200, 0);
  manager.evaluate();
  assert.equal(events[0]?.alert, "error_rate_high");
  assert.equal(events[0]?.value, 5);
});

test("availability, CPU, memory, cache and load time rules", () => {
  const { kpi, manager, events } = setup();
  for (let i = 0; i < 999; i++) kpi.probe(true, 0);
  kpi.resources(50, 0.5, 0);
  manager.evaluate();
  assert.equal(events.length, 0, "healthy: nothing fires");
  kpi.probe(false, 0);
  kpi.probe(false, 0);
  kpi.resources(85, 0.95, 0);
  // 10 prompts of 100 tokens, 55 of each found in the prefix cache: 55% < 60%.
  for (let i = 0; i < 10; i++) kpi.prefixCache(100, 55, 0);
  kpi.modelLoad(31_000, 0);
  manager.evaluate();
  assert.deepEqual(events.map((e) => e.alert).sort(), [
    "availability_low",
    "cache_hit_rate_low",
    "cpu_high",
    "memory_high",
    "model_load_slow",
  ]);
});

test("an alert set from outside fires once per label change and resolves", () => {
  const { manager, events } = setup();
  manager.set("memory_pressure", true, { labels: { level: "warn" } });
  manager.set("memory_pressure", true, { labels: { level: "warn" } });
  manager.set("memory_pressure", true, { labels: { level: "shed" } });
  manager.set("memory_pressure", false, { labels: { level: "ok" } });
  assert.deepEqual(
    events.map((e) => `${e.state}:${e.labels.level}`),
    ["firing:warn", "firing:shed", "resolved:ok"],
  );
  assert.equal(events[1]?.startsAt, events[0]?.startsAt, "a level change keeps the start time");
});
