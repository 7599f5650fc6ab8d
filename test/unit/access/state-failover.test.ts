import { test } from "node:test";
import assert from "node:assert/strict";
import { CircuitBreaker } from "../../../src/store/redis/index.js";
import {
  FailoverLimitStore,
  MemoryLimitStore,
  type LimitStore,
} from "../../../src/limits/index.js";
import type { BulwarkError } from "../../../src/errors/index.js";

test("the breaker opens after consecutive failures, tries once after the cooldown, closes on success", () => {
  let now = 0;
  const b = new CircuitBreaker({ failures: 3, cooldownMs: 1000 }, () => now);
  assert.equal(b.state, "closed");
  b.failure();
  b.failure();
  assert.ok(b.allow());
  b.success(); // a success in between starts the count again
  b.failure();
  b.failure();
  assert.equal(b.state, "closed");
  b.failure();
  assert.equal(b.state, "open");
  assert.equal(b.allow(), false);
  assert.equal(b.retryInMs(), 1000);
  now = 1000;
  assert.equal(b.state, "half-open");
  assert.ok(b.allow(), "one trial");
  assert.equal(b.allow(), false, "only one");
  b.failure();
  assert.equal(b.state, "open");
  now = 2000;
  assert.ok(b.allow());
  b.success();
  assert.equal(b.state, "closed");
  assert.ok(b.allow());
});

/** A shared store that fails every call while `down` is set. */
function flaky(down: { v: boolean }): LimitStore {
  const inner = new MemoryLimitStore();
  const guard =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      if (down.v) throw new Error("connection refused");
      return fn(...a);
    };
  return {
    gcra: guard(inner.gcra.bind(inner)),
    reserveTokens: guard(inner.reserveTokens.bind(inner)),
    refundTokens: guard(inner.refundTokens.bind(inner)),
    addWithin: guard(inner.addWithin.bind(inner)),
    subtract: guard(inner.subtract.bind(inner)),
    acquire: guard(inner.acquire.bind(inner)),
    release: guard(inner.release.bind(inner)),
    gcraAcquire: guard(inner.gcraAcquire.bind(inner)),
    reserveWithin: guard(inner.reserveWithin.bind(inner)),
    refundWithin: guard(inner.refundWithin.bind(inner)),
    close: () => inner.close(),
  };
}

test("closed: a decision the shared store cannot take is refused with state_unavailable", async () => {
  const down = { v: false };
  const seen: string[] = [];
  const store = new FailoverLimitStore(flaky(down), new MemoryLimitStore(), {
    policy: "closed",
    retryInMs: () => 1500,
    onFallback: (op) => seen.push(op),
  });
  const p = { limit: 10, periodMs: 60_000 };
  assert.ok((await store.gcra("k", p, 0)).allowed);
  down.v = true;
  await assert.rejects(store.gcra("k", p, 0), (err: BulwarkError) => {
    assert.equal(err.code, "state_unavailable");
    assert.equal(err.status, 503);
    assert.equal(err.retryAfterSeconds, 2);
    return true;
  });
  await assert.rejects(store.acquire("c", "t", 1, 1000), /shared limit store/);
  // Give-backs never throw.
  await store.release("c", "t");
  await store.refundTokens("b", 5, p, 0);
  assert.deepEqual(seen, ["gcra", "concurrency"]);
});

test("open: the local store decides while the shared one is down, and holds are given back there", async () => {
  const down = { v: true };
  let fallbacks = 0;
  const local = new MemoryLimitStore();
  const store = new FailoverLimitStore(flaky(down), local, {
    policy: "open",
    retryInMs: () => 1000,
    onFallback: () => fallbacks++,
  });
  const p = { limit: 2, periodMs: 60_000 };
  assert.ok((await store.gcra("k", p, 0)).allowed);
  assert.ok((await store.gcra("k", p, 0)).allowed);
  assert.equal((await store.gcra("k", p, 0)).allowed, false, "the local limit still holds");
  assert.ok((await store.acquire("c", "t1", 1, 1000)).ok);
  assert.equal((await store.acquire("c", "t2", 1, 1000)).ok, false);
  // The admission in one step takes the same local path.
  const both = await store.gcraAcquire("k2", p, 0, {
    key: "c2",
    token: "t4",
    limit: 1,
    leaseMs: 1,
  });
  assert.ok(both.gcra.allowed && both.held);
  down.v = false; // back: the local hold is still released locally
  await store.release("c", "t1");
  assert.ok((await local.acquire("c", "t3", 1, 1000)).ok);
  assert.equal(fallbacks, 6);
});
