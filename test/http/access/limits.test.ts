import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  call,
  chatBody,
  MODEL,
  startSecureServer,
  type SecureServer,
} from "../../helpers/access.js";

let s: SecureServer;
before(async () => {
  s = await startSecureServer({ rateLimits: { ipRpm: 0 } });
});
after(() => s.close());

const url = (path: string) => `${s.server.url}${path}`;
/** 3 prompt tokens (token ids, no BOS) + max_tokens. */
const completion = (maxTokens: number, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  prompt: [40, 41, 42],
  max_tokens: maxTokens,
  ...extra,
});

test("requests per minute hold exactly under 100 concurrent requests, with OpenAI's headers", async () => {
  const { key } = await s.createKey({ name: "rpm", role: "user", rpm: 10 });
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: 100 }, () => call(url("/v1/chat/completions"), key, "POST", chatBody())),
  );
  const elapsedMs = Date.now() - started;
  const ok = results.filter((r) => r.status === 200);
  // GCRA at 10/min admits a burst of 10, then frees one request every 6 s: a slow run may see
  // more admitted, never fewer, and never more than the clock allows.
  assert.ok(ok.length >= 10, `admitted ${ok.length}`);
  assert.ok(ok.length <= 10 + Math.floor(elapsedMs / 6000), `admitted ${ok.length}`);
  const refused = results.filter((r) => r.status === 429);
  assert.equal(refused.length, 100 - ok.length);
  for (const r of refused) {
    assert.equal(r.json.error.code, "rate_limit_exceeded");
    assert.equal(r.json.error.type, "rate_limit_error");
    assert.ok(Number(r.headers.get("retry-after")) >= 1);
    assert.equal(r.headers.get("x-ratelimit-limit-requests"), "10");
    assert.equal(r.headers.get("x-ratelimit-remaining-requests"), "0");
    assert.match(r.headers.get("x-ratelimit-reset-requests") ?? "", /^(\d+m)?\d+s$|^\d+ms$/);
  }
  // The burst counts down 9 … 0 (a request freed later by the clock may add one more value).
  const remaining = new Set(ok.map((r) => Number(r.headers.get("x-ratelimit-remaining-requests"))));
  for (let n = 0; n < 10; n++) assert.ok(remaining.has(n), `remaining ${n} seen`);
  // Every refusal is counted in the metrics, by the limit that refused it.
  const metrics = await call(url("/metrics"), s.adminKey);
  const counted = /^bulwark_requests_rate_limited_total\{limit="requests"\} (\d+)$/m.exec(
    metrics.text,
  );
  assert.equal(Number(counted?.[1]), refused.length);
});

test("tokens per minute hold exactly under 100 concurrent requests; unused tokens come back", async () => {
  const { key } = await s.createKey({ name: "tpm", role: "user", tpm: 100 });
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: 100 }, () =>
      call(url("/v1/completions"), key, "POST", completion(7, { ignore_eos: true })),
    ),
  );
  const elapsedMs = Date.now() - started;
  const ok = results.filter((r) => r.status === 200);
  // Each request reserves 3 + 7 = 10 tokens of 100; the bucket refills 100 per minute.
  const bound = Math.floor((100 + (elapsedMs * 100) / 60_000) / 10);
  assert.ok(ok.length >= 10 && ok.length <= bound, `admitted ${ok.length}, bound ${bound}`);
  for (const r of ok) assert.equal(r.json.usage.total_tokens, 10);
  const refused = results.filter((r) => r.status === 429);
  assert.equal(refused.length, 100 - ok.length);
  for (const r of refused) {
    assert.equal(r.json.error.code, "tokens_rate_limit_exceeded");
    assert.equal(r.headers.get("x-ratelimit-limit-tokens"), "100");
    assert.ok(Number(r.headers.get("retry-after")) >= 1);
  }

  const { key: k2 } = await s.createKey({ name: "refund", role: "user", tpm: 1000 });
  const first = await call(url("/v1/completions"), k2, "POST", completion(400, { stop: [" is"] }));
  assert.equal(first.status, 200, first.text);
  const used = first.json.usage.total_tokens as number;
  assert.ok(used < 403, `the stop string ends it early (${used})`);
  // The first reservation was 403; the next request sees only what was used taken away.
  const second = await call(url("/v1/completions"), k2, "POST", completion(7));
  const remaining = Number(second.headers.get("x-ratelimit-remaining-tokens"));
  assert.ok(remaining >= 1000 - used - 10 && remaining <= 1000 - 10, `remaining ${remaining}`);
});

test("embeddings count against the token limit: the bound is held, the real count is charged", async () => {
  const { key } = await s.createKey({ name: "emb", role: "user", tpm: 100 });
  // 30 characters: the fake engine makes BOS + 30 tokens; the bound held meanwhile is 32.
  const body = { model: MODEL, input: "x".repeat(30) };
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await call(url("/v1/embeddings"), key, "POST", body));
  assert.deepEqual(
    results.map((r) => r.status),
    [200, 200, 200, 429],
  );
  for (const r of results.slice(0, 3)) assert.equal(r.json.usage.prompt_tokens, 31);
  // The first answer's header counts the 32 held while it ran (one more may have refilled).
  const remaining = Number(results[0]!.headers.get("x-ratelimit-remaining-tokens"));
  assert.ok(remaining >= 68 && remaining <= 69, `remaining ${remaining}`);
  assert.equal(results[3]!.json.error.code, "tokens_rate_limit_exceeded");
});

test("a request that can never fit the token limit is refused at once, without Retry-After", async () => {
  const { key } = await s.createKey({ name: "never", role: "user", tpm: 50 });
  const res = await call(url("/v1/completions"), key, "POST", completion(100));
  assert.equal(res.status, 429);
  assert.equal(res.json.error.code, "tokens_rate_limit_exceeded");
  assert.match(res.json.error.message, /more than this key's limit/);
  assert.equal(res.headers.get("retry-after"), null);
  assert.equal((await call(url("/v1/completions"), key, "POST", completion(10))).status, 200);
});

test("n choices are each charged to the key's token limit", async () => {
  const { key } = await s.createKey({ name: "choices", role: "user", tpm: 100 });
  const started = Date.now();
  // 3 prompt tokens + 4 choices × 30: 123 tokens can never fit in 100.
  const four = await call(url("/v1/completions"), key, "POST", completion(30, { n: 4 }));
  assert.equal(four.status, 429, four.text);
  assert.equal(four.json.error.code, "tokens_rate_limit_exceeded");
  // 3 + 2 × 20 = 43 fits; all of it is used and charged (the prompt once).
  const two = await call(
    url("/v1/completions"),
    key,
    "POST",
    completion(20, { n: 2, ignore_eos: true }),
  );
  assert.equal(two.status, 200, two.text);
  assert.equal(two.json.usage.total_tokens, 43);
  const next = await call(url("/v1/completions"), key, "POST", completion(1));
  const remaining = Number(next.headers.get("x-ratelimit-remaining-tokens"));
  // 100 − 43 − 4 held by this one, plus what the bucket refilled meanwhile (100 a minute).
  const refill = ((Date.now() - started) * 100) / 60_000;
  assert.ok(remaining >= 53 && remaining <= 53 + refill + 1, `remaining ${remaining}`);
});

test("the concurrency cap holds and frees its slots when requests end", async () => {
  s.engine.controls.tokenDelayMs = 40;
  try {
    const { key } = await s.createKey({ name: "conc", role: "user", concurrency: 2 });
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        call(url("/v1/chat/completions"), key, "POST", chatBody("hi", { max_tokens: 5 })),
      ),
    );
    assert.equal(results.filter((r) => r.status === 200).length, 2);
    const refused = results.filter((r) => r.status === 429);
    assert.equal(refused.length, 10);
    for (const r of refused) assert.equal(r.json.error.code, "concurrency_limit_exceeded");
    // Streams count too, and a client that goes away frees its slot.
    const ctrl = new AbortController();
    const stream = await fetch(url("/v1/chat/completions"), {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(chatBody("hi", { max_tokens: 200, stream: true })),
      signal: ctrl.signal,
    });
    assert.equal(stream.status, 200);
    ctrl.abort();
    await new Promise((r) => setTimeout(r, 100));
    const after = await Promise.all([
      call(url("/v1/chat/completions"), key, "POST", chatBody()),
      call(url("/v1/chat/completions"), key, "POST", chatBody()),
    ]);
    assert.deepEqual(
      after.map((r) => r.status),
      [200, 200],
    );
  } finally {
    s.engine.controls.tokenDelayMs = 0;
  }
});

test("the daily token budget is enforced, Retry-After points at the next UTC day", async () => {
  const { key, id } = await s.createKey({ name: "budget", role: "user", dailyBudget: 30 });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await call(
      url("/v1/completions"),
      key,
      "POST",
      completion(7, { ignore_eos: true }),
    );
    statuses.push(res.status);
    if (res.status === 429) {
      assert.equal(res.json.error.code, "daily_budget_exceeded");
      const retry = Number(res.headers.get("retry-after"));
      assert.ok(retry > 0 && retry <= 86_400, `retry-after ${retry}`);
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  await new Promise((r) => setTimeout(r, 50));
  const usage = await call(`${s.server.adminUrl}/admin/usage?key=${id}`, s.adminKey);
  assert.equal(usage.json.data[0].total_tokens, 30);
  assert.equal(usage.json.data[0].requests, 4);
  assert.equal(usage.json.data[0].errors, 1, "the refused request counts as an error");
});
