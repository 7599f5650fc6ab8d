import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  fakeEngine,
  postJson,
  startTestServer,
  waitFor,
  type TestServer,
} from "../helpers/server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../helpers/webhook.js";
import { sampleValue, scrape } from "../helpers/prometheus.js";

// The prefix-cache KPI over the fake engine's slots, which keep their last prompt as
// llama.cpp's sequences keep their KV cache.
let server: TestServer;
let hook: WebhookReceiver;

before(async () => {
  hook = await startWebhookReceiver();
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 1 }],
      alerts: {
        windowMs: 1500,
        evaluateIntervalMs: 50,
        minSamples: 5,
        latencyP95Ms: 60_000,
        cpuPercent: 100,
        webhookUrl: hook.url,
      },
    },
    { replicaFactory: fakeEngine().factory },
  );
  assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
});
after(async () => {
  await server.close();
  await hook.close();
});

const SYSTEM = "You are a careful assistant. Answer in one short sentence, in plain words. ";
const ask = (prompt: string) =>
  postJson(`${server.url}/v1/completions`, { model: "fake", prompt, max_tokens: 2 });
const states = () =>
  hook.events.filter((e) => e.alert === "cache_hit_rate_low").map((e) => e.state);

test("prompts that share no prefix fire the cache-hit alert; a shared system prompt resolves it", async () => {
  // Each prompt starts differently: nothing but the BOS token is reused.
  for (let i = 0; i < 6; i++) {
    const r = await ask(`${String.fromCharCode(65 + i)} ${SYSTEM}`);
    assert.equal(r.status, 200);
    assert.ok(r.json.usage.prompt_tokens_details.cached_tokens <= 1);
  }
  assert.ok(await waitFor(() => states().includes("firing"), 5_000));
  const firing = hook.events.find((e) => e.alert === "cache_hit_rate_low")!;
  assert.ok(firing.value < 60, String(firing.value));
  assert.equal(firing.threshold, 60);

  // The same system prompt with different questions: the slot's cache holds the prefix.
  let cached = 0;
  for (let i = 0; i < 40 && !states().includes("resolved"); i++) {
    const r = await ask(`${SYSTEM}Question ${i}?`);
    assert.equal(r.status, 200);
    cached = r.json.usage.prompt_tokens_details.cached_tokens;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.ok(cached >= SYSTEM.length, `cached_tokens ${cached}`);
  assert.ok(await waitFor(() => states().includes("resolved"), 3_000));
  assert.deepEqual(states(), ["firing", "resolved"]);
  assert.deepEqual([...new Set(hook.events.map((e) => e.alert))], ["cache_hit_rate_low"]);
  const prom = await scrape(server.url);
  assert.ok((sampleValue(prom, "bulwark_prefix_cache_hits_total", { model: "fake" }) ?? 0) > 0);
});
