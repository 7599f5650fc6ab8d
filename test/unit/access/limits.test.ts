import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatReset,
  gcra,
  MemoryLimitStore,
  RateLimiter,
  refund,
  reserve,
} from "../../../src/limits/index.js";
import type { BulwarkError } from "../../../src/errors/index.js";

test("GCRA admits a burst of `limit`, then one request per period/limit", () => {
  const p = { limit: 6, periodMs: 60_000 };
  let tat: number | undefined;
  const at = (now: number) => {
    const r = gcra(tat, now, p);
    if (r.allowed) tat = r.tat;
    return r;
  };
  const burst = [0, 0, 0, 0, 0, 0].map(() => at(1000));
  assert.deepEqual(
    burst.map((r) => r.remaining),
    [5, 4, 3, 2, 1, 0],
  );
  const refused = at(1000);
  assert.equal(refused.allowed, false);
  assert.equal(refused.retryAfterMs, 10_000);
  assert.equal(at(10_999).allowed, false);
  assert.equal(at(11_000).allowed, true);
  assert.equal(at(11_001).allowed, false);
  // After a quiet minute the whole burst is back.
  assert.equal(gcra(tat, 200_000, p).remaining, 5);
});

test("the token bucket reserves, refuses what does not fit, refills and takes refunds", () => {
  const p = { limit: 100, periodMs: 60_000 };
  let r = reserve(undefined, 60, 0, p);
  assert.ok(r.allowed);
  assert.equal(r.remaining, 40);
  r = reserve(r.state, 50, 0, p);
  assert.equal(r.allowed, false);
  assert.equal(r.never, false);
  assert.equal(r.retryAfterMs, 6000); // 10 tokens at 100 per minute
  assert.ok(reserve(r.state, 50, 6000, p).allowed);
  const never = reserve(r.state, 101, 0, p);
  assert.equal(never.never, true);
  const back = refund(r.state, 50, 0, p);
  assert.equal(back.level, 90);
  assert.equal(refund(back, 50, 0, p).level, 100, "never above the bucket");
  assert.equal(formatReset(20), "20ms");
  assert.equal(formatReset(1000), "1s");
  assert.equal(formatReset(360_000), "6m0s");
});

test("the rate limiter settles each reservation once and refunds the unused part", async () => {
  let now = 0;
  const limiter = new RateLimiter(new MemoryLimitStore(), { ipRpm: 0 }, () => now);
  const key = { id: "k", rpm: 0, tpm: 100, concurrency: 1, dailyBudget: 150 };
  const a = await limiter.admitRequest(key);
  await assert.rejects(
    limiter.admitRequest(key),
    (e: BulwarkError) => e.code === "concurrency_limit_exceeded",
  );
  a.release();
  a.release();
  const b = await limiter.admitRequest(key);
  b.release();
  const r1 = await limiter.reserveTokens(key, 80);
  await assert.rejects(
    limiter.reserveTokens(key, 30),
    (e: BulwarkError) => e.code === "tokens_rate_limit_exceeded",
  );
  r1.settle(20);
  r1.settle(0); // the first settle wins
  const r2 = await limiter.reserveTokens(key, 80);
  assert.equal(r2.headers["x-ratelimit-remaining-tokens"], "0");
  r2.settle(80);
  now = 60_000;
  // 20 + 80 = 100 of the 150 daily budget are spent; 60 more do not fit the day.
  await assert.rejects(limiter.reserveTokens(key, 60), (e: BulwarkError) => {
    assert.equal(e.code, "daily_budget_exceeded");
    return true;
  });
  const r3 = await limiter.reserveTokens(key, 50);
  r3.settle(50);
  now = 86_400_000; // the next UTC day
  (await limiter.reserveTokens(key, 50)).settle(0);
});

test("the memory store seeds daily counters from a baseline (usage after a restart)", async () => {
  const store = new MemoryLimitStore((key) => (key === "budget:k:0" ? 90 : 0));
  assert.deepEqual(await store.addWithin("budget:k:0", 20, 100), { ok: false, value: 90 });
  assert.deepEqual(await store.addWithin("budget:k:0", 10, 100), { ok: true, value: 100 });
});
