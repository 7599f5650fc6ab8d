/**
 * The rate limiter over the Redis limit store against a real redis-server (started by the test
 * on a free port, stopped by its PID): a key with both a token limit and a daily budget takes
 * one round trip to reserve and one to settle, and keeps the sequential steps' rules: the
 * budget is asked only when the tokens fit, and a budget refusal takes no tokens.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { redisMissing, startRedis, type TestRedis } from "../../helpers/redis.js";
import { RateLimiter } from "../../../src/limits/index.js";
import { RedisConnection, RedisLimitStore } from "../../../src/store/redis/index.js";
import type { BulwarkError } from "../../../src/errors/index.js";

const missing = redisMissing();
let redis: TestRedis;
let conn: RedisConnection;
let client: Redis;
let limiter: RateLimiter;

before(async () => {
  if (missing) return;
  redis = await startRedis();
  conn = new RedisConnection({
    url: redis.url,
    keyPrefix: "t:",
    // A loaded test machine must not trip the breaker on a slow reply.
    commandTimeoutMs: 2_000,
    connectTimeoutMs: 2_000,
    breakerFailures: 3,
    breakerCooldownMs: 1_000,
  });
  await conn.waitConnected(5_000);
  client = new Redis(redis.url);
  limiter = new RateLimiter(new RedisLimitStore(conn), { ipRpm: 0 });
  // Each script loaded once (the first call of a script is EVALSHA, then EVAL on NOSCRIPT).
  const warm = { id: "warm", rpm: 0, tpm: 1_000, concurrency: 0, dailyBudget: 1_000 };
  (await limiter.reserveTokens(warm, 10)).settle(0);
  await new Promise((r) => setTimeout(r, 50));
});
after(async () => {
  client?.disconnect();
  await conn?.close();
  await redis?.close();
});

/** Scripts run so far (EVALSHA and EVAL calls), from Redis's own command statistics. */
async function scriptCalls(): Promise<number> {
  const info = (await client.info("commandstats")) as string;
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(m[1]);
  return calls;
}

const settled = () => new Promise((r) => setTimeout(r, 100));

test(
  "a token limit and a daily budget: one round trip to reserve, one to settle",
  { skip: missing },
  async () => {
    const key = { id: "both", rpm: 0, tpm: 1_000, concurrency: 0, dailyBudget: 1_000 };
    const before = await scriptCalls();
    const r = await limiter.reserveTokens(key, 900);
    // The INFO call itself is not a script; one script ran.
    assert.equal((await scriptCalls()) - before, 1);
    r.settle(100);
    await settled();
    assert.equal((await scriptCalls()) - before, 2, "the settle gave back both in one script");
    // 800 came back to both: 850 more fit the bucket and the day (100 + 850 ≤ 1,000).
    const again = await limiter.reserveTokens(key, 850);
    assert.ok(Number(again.headers["x-ratelimit-remaining-tokens"]) < 200);
  },
);

test(
  "the budget is asked only when the tokens fit, and its refusal takes no tokens",
  { skip: missing },
  async () => {
    const key = { id: "budget", rpm: 0, tpm: 1_000, concurrency: 0, dailyBudget: 500 };
    (await limiter.reserveTokens(key, 400)).settle(400);
    await settled();
    await assert.rejects(limiter.reserveTokens(key, 200), (e: BulwarkError) => {
      assert.equal(e.code, "daily_budget_exceeded");
      assert.match(e.message, /400 used or held/);
      return true;
    });
    // The refused 200 were not taken from the bucket: 1,000 − 400 − 100 (and what refilled).
    const ok = await limiter.reserveTokens(key, 100);
    assert.ok(
      Number(ok.headers["x-ratelimit-remaining-tokens"]) >= 500,
      JSON.stringify(ok.headers),
    );
    // A request over the token limit is refused by the bucket; the budget is not touched.
    await assert.rejects(
      limiter.reserveTokens(key, 2_000),
      (e: BulwarkError) => e.code === "tokens_rate_limit_exceeded",
    );
    assert.equal(
      await client.get(`t:limit:budget:budget:${Math.floor(Date.now() / 86_400_000)}`),
      "500",
    );
  },
);
