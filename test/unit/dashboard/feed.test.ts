import { test } from "node:test";
import assert from "node:assert/strict";
import { DashboardFeed, type FeedSources } from "../../../src/dashboard/index.js";

const thresholds = {
  memoryPercent: 80,
  cpuPercent: 70,
  latencyP95Ms: 5000,
  errorRatePercent: 1,
  availabilityPercent: 99.9,
  cacheHitPercent: 60,
  modelLoadMs: 30_000,
};

function sources(kpis: () => ReturnType<FeedSources["kpis"]>): FeedSources {
  return {
    kpis,
    thresholds,
    models: () => [],
    registry: () => ({ versions: [], serving: [] }),
    guard: () => undefined,
    alerts: () => ({ firing: [], all: [], recent: [] }),
  };
}

test("tokens per second come from two readings; KPIs without data are null", () => {
  let now = 0;
  let tokens = 0;
  const feed = new DashboardFeed(
    sources(() => ({ generatedTokens: tokens, generationRequests: 0, memoryPercent: 42.123 })),
    { sampleMs: 1000, historyMs: 10_000, now: () => now },
  );
  const first = feed.sample();
  assert.equal(first.kpis.values.tokensPerSecond, null);
  assert.equal(first.kpis.values.memory, 42.1);
  assert.equal(first.kpis.values.p95, null);
  now = 2_000;
  tokens = 50;
  assert.equal(feed.sample().kpis.values.tokensPerSecond, 25);
  assert.deepEqual(
    first.kpis.targets.map((t) => [t.key, t.max ?? t.min ?? null]),
    [
      ["memory", 80],
      ["cpu", 70],
      ["p95", 5000],
      ["errors", 1],
      ["availability", 99.9],
      ["tokensPerSecond", null],
      ["cacheHit", 60],
      ["modelLoad", 30_000],
    ],
  );
});

test("the history keeps the last span and every subscriber gets each snapshot", () => {
  let now = 0;
  const feed = new DashboardFeed(
    sources(() => ({ generatedTokens: 0, generationRequests: 0 })),
    { sampleMs: 1000, historyMs: 3_000, now: () => now },
  );
  const got: number[] = [];
  const stop = feed.subscribe((s) => got.push(s.at));
  for (now = 0; now <= 10_000; now += 1_000) feed.sample();
  assert.deepEqual(
    feed.kpiHistory().map((s) => s.at),
    [7_000, 8_000, 9_000, 10_000],
  );
  assert.equal(got.length, 11);
  stop();
  feed.sample();
  assert.equal(got.length, 11);
  assert.equal(feed.subscribers, 0);
});
