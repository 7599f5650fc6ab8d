import { test } from "node:test";
import assert from "node:assert/strict";
import { ResponseCache, type GenerationValue } from "../../../src/cache/index.js";

const value = (text: string): GenerationValue => ({
  kind: "generation",
  pieces: [text],
  finishReason: "stop",
  promptTokens: 3,
  completionTokens: 1,
});

function observed() {
  const seen = { lookups: 0, hits: 0, stores: 0, size: 0, expired: 0, bytes: 0 };
  return {
    seen,
    observer: {
      lookup: (_k: string, hit: boolean) => {
        seen.lookups++;
        if (hit) seen.hits++;
      },
      stored: () => seen.stores++,
      evicted: (reason: "size" | "expired") => seen[reason]++,
      bytes: (n: number) => (seen.bytes = n),
    },
  };
}

test("bounded by bytes: the least recently used entries leave, and are counted", () => {
  const { seen, observer } = observed();
  const cache = new ResponseCache({ maxBytes: 4_000, maxEntryBytes: 2_000, observer });
  const meta = { model: "m", tenant: "t", ttlMs: 60_000 };
  for (let i = 0; i < 20; i++) cache.set(`k${i}`, value("x".repeat(500)), meta);
  const stats = cache.stats();
  assert.ok(stats.bytes <= 4_000, String(stats.bytes));
  assert.ok(stats.entries < 20 && stats.entries > 0);
  assert.ok(seen.size > 0, "evictions counted");
  assert.equal(seen.stores, 20);
  assert.equal(seen.bytes, stats.bytes);
  assert.equal(cache.get("k0"), undefined);
  assert.ok(cache.get("k19"));
  assert.equal(seen.lookups, 2);
  assert.equal(seen.hits, 1);
  assert.equal(cache.set("big", value("x".repeat(5_000)), meta), false, "over one entry's bound");
});

test("entries expire after their ttl", () => {
  let now = 1_000;
  const { seen, observer } = observed();
  const cache = new ResponseCache({
    maxBytes: 10_000,
    maxEntryBytes: 10_000,
    observer,
    now: () => now,
  });
  cache.set("a", value("a"), { model: "m", tenant: "t", ttlMs: 100 });
  now += 50;
  assert.ok(cache.get("a"));
  now += 60;
  assert.equal(cache.get("a"), undefined);
  assert.equal(seen.expired, 1);
});

test("clear by model and by tenant", () => {
  const cache = new ResponseCache({ maxBytes: 100_000, maxEntryBytes: 10_000 });
  cache.set("1", value("a"), { model: "m1", tenant: "ns:a", ttlMs: 60_000 });
  cache.set("2", value("a"), { model: "m2", tenant: "ns:a", ttlMs: 60_000 });
  cache.set("3", value("a"), { model: "m1", tenant: "ns:b", ttlMs: 60_000 });
  assert.equal(cache.clear({ tenant: "ns:a" }), 2);
  assert.equal(cache.clear({ model: "m2" }), 0);
  assert.equal(cache.clear({ model: "m1" }), 1);
  cache.set("4", value("a"), { model: "m1", tenant: "ns:b", ttlMs: 60_000 });
  assert.equal(cache.clear(), 1);
  assert.equal(cache.stats().entries, 0);
});

test("single-flight: waiters get the leader's value, or undefined when it failed", async () => {
  const cache = new ResponseCache({ maxBytes: 100_000, maxEntryBytes: 10_000 });
  assert.equal(cache.join("k"), undefined);
  const finish = cache.lead("k");
  const waiters = [cache.join("k"), cache.join("k")];
  assert.equal(cache.stats().inFlight, 1);
  finish(value("done"));
  finish(undefined); // a second call changes nothing
  for (const w of waiters) assert.deepEqual(await w, value("done"));
  assert.equal(cache.join("k"), undefined);
  const failed = cache.lead("k");
  const waiter = cache.join("k");
  failed(undefined);
  assert.equal(await waiter, undefined);
});
