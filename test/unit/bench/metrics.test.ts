import { test } from "node:test";
import assert from "node:assert/strict";
import {
  computeMetrics,
  parseGoodput,
  repeatMixPlan,
  runLoad,
  seededRandom,
  throughputSeries,
  verdicts,
  type RequestOutcome,
} from "../../../src/bench/index.js";

const close = (a: number, b: number, msg?: string) =>
  assert.ok(Math.abs(a - b) < 1e-9, `${msg ?? ""} ${a} != ${b}`);

function ok(partial: Partial<RequestOutcome>): RequestOutcome {
  return {
    ok: true,
    startMs: 0,
    queueMs: 0,
    ttftMs: 0,
    itlMs: [],
    e2eMs: 0,
    promptTokens: 0,
    outputTokens: 0,
    ...partial,
  };
}
const failed = (kind: string) => ({ ...ok({}), ok: false, errorKind: kind });

// A: 5 tokens, TTFT 100, E2E 500 → TPOT (500 − 100) / 4 = 100. B: 1 token, no TPOT.
const outcomes: RequestOutcome[] = [
  ok({
    ttftMs: 100,
    e2eMs: 500,
    outputTokens: 5,
    itlMs: [100, 100, 100, 100],
    promptTokens: 10,
    cachedTokens: 5,
  }),
  ok({ ttftMs: 200, e2eMs: 200, outputTokens: 1, promptTokens: 20 }),
  failed("http_429:rate_limit_exceeded"),
  failed("http_429:rate_limit_exceeded"),
];

test("metrics against a hand-computed example", () => {
  const m = computeMetrics(outcomes, 2000);
  assert.equal(m.requests, 4);
  assert.equal(m.completed, 2);
  assert.equal(m.failed, 2);
  assert.deepEqual(m.failuresByKind, { "http_429:rate_limit_exceeded": 2 });
  close(m.errorRate, 0.5);
  assert.equal(m.totalInputTokens, 30);
  assert.equal(m.totalOutputTokens, 6);
  close(m.durationS, 2);
  close(m.requestThroughput, 1);
  close(m.outputThroughput, 3);
  close(m.totalTokenThroughput, 18);
  close(m.ttftMs.mean, 150);
  close(m.ttftMs.std, 50);
  assert.equal(m.tpotMs.count, 1, "a one-token request has no TPOT");
  close(m.tpotMs.mean, 100);
  assert.equal(m.itlMs.count, 4);
  close(m.itlMs.std, 0);
  close(m.e2eMs.mean, 350);
  close(m.e2eMs.percentiles.p99!, 497); // 200 + 0.99 × 300
  close(m.cacheHitRate!, 0.5, "5 cached of the 10 prompt tokens of the request that reported");
  assert.equal(m.goodput, null, "no SLO, no goodput");
});

test("goodput counts requests meeting every SLO; one-token requests have TPOT 0", () => {
  const g = (spec: string) => computeMetrics(outcomes, 2000, parseGoodput(spec));
  assert.equal(g("ttft:150 tpot:50").goodCompleted, 0); // A's TPOT 100, B's TTFT 200
  assert.equal(g("tpot:50").goodCompleted, 1); // B: TPOT counts as 0
  close(g("tpot:50").goodput!, 0.5);
  assert.equal(g("ttft:200 e2el:500").goodCompleted, 2);
  assert.equal(g("e2el:499.5").goodCompleted, 1);
});

test("goodput specs parse from one string or several", () => {
  assert.deepEqual(parseGoodput("ttft:500 tpot:50"), { ttft: 500, tpot: 50 });
  assert.deepEqual(parseGoodput(["ttft:500", "e2el:2.5"]), { ttft: 500, e2el: 2.5 });
  assert.throws(() => parseGoodput("latency:5"), /not KEY:MS/);
  assert.throws(() => parseGoodput("ttft:-1"), /not KEY:MS/);
});

test("verdicts: p95 latency < 5 s and error rate < 1%", () => {
  const good = computeMetrics([ok({ e2eMs: 4999, outputTokens: 2 })], 1000);
  const v = verdicts(good);
  assert.deepEqual(
    v.map((x) => [x.kpi, x.pass]),
    [
      ["p95_latency", true],
      ["error_rate", true],
      ["throughput", null],
      ["cache_hit_rate", null],
    ],
  );
  const slow = verdicts(computeMetrics([ok({ e2eMs: 5000 }), failed("timeout")], 1000));
  assert.equal(slow[0]!.pass, false);
  assert.equal(slow[1]!.pass, false);
});

test("repeat-mix plan: shares, repeats point at earlier originals, fixed by the seed", () => {
  const plan = repeatMixPlan(2000, 0.5, 0.3, seededRandom(3));
  assert.deepEqual(repeatMixPlan(2000, 0.5, 0.3, seededRandom(3)), plan);
  assert.equal(plan[0]!.role, "unique");
  const share = (role: string) => plan.filter((p) => p.role === role).length / plan.length;
  assert.ok(Math.abs(share("repeat") - 0.5) < 0.04);
  assert.ok(Math.abs(share("prefix") - 0.3) < 0.04);
  plan.forEach((p, i) => {
    if (p.role === "repeat") {
      assert.ok(p.source! < i && plan[p.source!]!.role !== "repeat");
    }
  });
  assert.ok(repeatMixPlan(10, 0, 0, seededRandom(1)).every((p) => p.role === "unique"));
  assert.throws(() => repeatMixPlan(10, 0.7, 0.5, seededRandom(1)), RangeError);
});

test("open loop with --max-concurrency: the cap holds and waiting shows as client queue time", async () => {
  let inFlight = 0;
  let peak = 0;
  const send = async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 15));
    inFlight--;
    return ok({ ttftMs: 1, e2eMs: 2, outputTokens: 1 });
  };
  const reqs = Array.from({ length: 6 }, () => ({ prompt: "x", outputLen: 1 }));
  const run = await runLoad(
    reqs,
    [],
    { kind: "rate", offsetsMs: [0, 0, 0, 0, 0, 0], maxConcurrency: 2 },
    send,
  );
  assert.equal(peak, 2);
  assert.equal(run.outcomes.length, 6);
  const queued = run.outcomes.filter((o) => o.queueMs >= 10).length;
  assert.ok(
    queued >= 4,
    `the 4 requests past the cap waited (queue times ${run.outcomes.map((o) => o.queueMs)})`,
  );
  const closed = await runLoad(
    reqs,
    reqs.slice(0, 2),
    { kind: "concurrency", concurrency: 3 },
    send,
  );
  assert.equal(peak, 3);
  assert.ok(closed.outcomes.every((o) => o.queueMs === 0));
});

test("throughput series: each chunk's share of the tokens lands in its time bucket", () => {
  const o = ok({ startMs: 0, ttftMs: 500, itlMs: [600, 100], outputTokens: 3 });
  // Chunks at 500, 1100 and 1200 ms: one token in the first second, two in the second.
  assert.deepEqual(throughputSeries([o, failed("timeout")], 2000, 1000), [1, 2]);
  assert.deepEqual(throughputSeries([o], 2000, 500), [0, 2, 4, 0]);
});

test("the response-cache hit rate comes from x-bulwark-cache; without the header it is null", () => {
  const m = computeMetrics(
    [
      ok({ responseCache: "hit", e2eMs: 2 }),
      ok({ responseCache: "semantic-hit", e2eMs: 4 }),
      ok({ responseCache: "miss", e2eMs: 100 }),
      ok({ responseCache: "bypass", e2eMs: 100 }),
      failed("http_500"),
    ],
    1000,
  );
  close(m.responseHitRate!, 0.5);
  close(m.hitE2eMs.mean, 3);
  assert.ok(verdicts(m).some((v) => /response cache: 50\.00%/.test(v.line)));
  const none = computeMetrics([ok({})], 1000);
  assert.equal(none.responseHitRate, null);
  assert.ok(!verdicts(none).some((v) => v.kpi === "response_cache"));
});

test("prefixed repeat-mix requests get their own cached share and TTFT, with verdict line", () => {
  const m = computeMetrics(
    [
      ok({ cacheRole: "prefix", promptTokens: 100, cachedTokens: 60, ttftMs: 40 }),
      ok({ cacheRole: "prefix", promptTokens: 100, cachedTokens: 0, ttftMs: 80 }),
      ok({ cacheRole: "prefix", promptTokens: 100, ttftMs: 60 }),
      ok({ cacheRole: "unique", promptTokens: 100, cachedTokens: 0, ttftMs: 500 }),
    ],
    1000,
  );
  assert.equal(m.prefixed?.promptTokens, 300);
  assert.equal(m.prefixed?.cachedTokens, 60);
  assert.equal(m.prefixed?.ttftMs.median, 60);
  const line = verdicts(m).find((v) => v.kpi === "prefixed_requests")?.line ?? "";
  assert.match(line, /60 of 300 prompt tokens/);
  assert.equal(computeMetrics([ok({ cacheRole: "unique" })], 1000).prefixed, null);
});
