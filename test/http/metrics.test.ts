import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fakeEngine, postJson, startTestServer, type TestServer } from "../helpers/server.js";
import { sampleValue, scrape } from "../helpers/prometheus.js";

let server: TestServer;
const memorySource = {
  read: async () => ({ usedBytes: 3e8, limitBytes: 1e10, source: "test" }),
};

before(async () => {
  const engine = fakeEngine({ tokenDelayMs: 2 });
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 1 }],
      scheduler: { queueLimit: 1 },
      guards: { sampleIntervalMs: 20 },
    },
    { replicaFactory: engine.factory, memorySource },
  );
});
after(() => server.close());

test("/metrics parses and counts the requests made, with vLLM's names under bulwark_", async () => {
  for (let i = 0; i < 3; i++) {
    const r = await postJson(`${server.url}/v1/completions`, {
      model: "fake",
      prompt: "hi",
      max_tokens: 4,
    });
    assert.equal(r.status, 200);
  }
  const streamed = await postJson(`${server.url}/v1/chat/completions`, {
    model: "fake",
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 6,
    stream: true,
  });
  assert.equal(streamed.status, 200);
  const bad = await postJson(`${server.url}/v1/completions`, { model: "nope", prompt: "x" });
  assert.equal(bad.status, 404);
  // Queue overflow: one running, one waiting, the rest 503 queue_full.
  const burst = await Promise.all(
    Array.from({ length: 5 }, () =>
      postJson(`${server.url}/v1/completions`, { model: "fake", prompt: "x", max_tokens: 20 }),
    ),
  );
  const full = burst.filter((r) => r.status === 503);
  assert.ok(full.length >= 3, burst.map((r) => r.status).join(","));
  for (const r of full) {
    assert.equal(r.json.error.code, "queue_full");
    assert.ok(r.headers.get("retry-after"));
  }

  const prom = await scrape(server.url);
  const completions = { endpoint: "/v1/completions", model: "fake" };
  assert.equal(
    sampleValue(prom, "bulwark_http_requests_total", { ...completions, status: "200" }),
    3 + burst.length - full.length,
  );
  assert.equal(
    sampleValue(prom, "bulwark_http_requests_total", { ...completions, status: "503" }),
    full.length,
  );
  assert.equal(
    // A model that is not served is labelled "unknown": client-chosen names would make the
    // label's cardinality unbounded.
    sampleValue(prom, "bulwark_http_requests_total", {
      endpoint: "/v1/completions",
      model: "unknown",
      status: "404",
    }),
    1,
  );
  assert.equal(
    sampleValue(prom, "bulwark_http_requests_total", {
      endpoint: "/v1/chat/completions",
      status: "200",
    }),
    1,
  );
  assert.equal(
    sampleValue(prom, "bulwark_requests_shed_total", { reason: "queue_full" }),
    full.length,
  );
  const ok = 3 + burst.length - full.length;
  assert.equal(
    sampleValue(prom, "bulwark_generation_tokens_total", { model: "fake" }),
    3 * 4 + 6 + (ok - 3) * 20,
  );
  assert.ok((sampleValue(prom, "bulwark_prompt_tokens_total", { model: "fake" }) ?? 0) > 0);
  assert.equal(
    sampleValue(prom, "bulwark_request_success_total", {
      model: "fake",
      finished_reason: "length",
    }),
    ok + 1,
  );
  // Histograms: one observation per successful generation request.
  assert.equal(
    sampleValue(prom, "bulwark_e2e_request_latency_seconds_count", {
      model: "fake",
      endpoint: "/v1/completions",
    }),
    ok + full.length,
  );
  assert.equal(
    sampleValue(prom, "bulwark_time_to_first_token_seconds_count", { model: "fake" }),
    ok + 1,
  );
  assert.ok(
    (sampleValue(prom, "bulwark_inter_token_latency_seconds_count", { model: "fake" }) ?? 0) >=
      3 * 3,
  );
  assert.ok(
    (sampleValue(prom, "bulwark_request_queue_time_seconds_count", { model: "fake" }) ?? 0) >=
      ok + 1,
  );
  assert.equal(prom.types.get("bulwark_e2e_request_latency_seconds"), "histogram");
  assert.equal(prom.types.get("bulwark_http_requests_total"), "counter");
  // Engine and resource gauges.
  assert.equal(sampleValue(prom, "bulwark_total_slots", { model: "fake" }), 1);
  assert.equal(sampleValue(prom, "bulwark_num_requests_waiting", { model: "fake" }), 0);
  assert.equal(sampleValue(prom, "bulwark_model_ready", { model: "fake" }), 1);
  assert.equal(sampleValue(prom, "bulwark_model_load_seconds_count", { model: "fake" }), 1);
  assert.equal(sampleValue(prom, "bulwark_memory_used_bytes"), 3e8);
  assert.equal(sampleValue(prom, "bulwark_memory_limit_bytes"), 1e10);
  assert.equal(sampleValue(prom, "bulwark_memory_usage_ratio"), 0.03);
  const gatewayRss = sampleValue(prom, "bulwark_process_resident_memory_bytes", {
    role: "gateway",
    pid: String(process.pid),
  });
  assert.ok(gatewayRss !== undefined && gatewayRss > 10_000_000, `gateway RSS ${gatewayRss}`);
  assert.ok(sampleValue(prom, "bulwark_cpu_usage_ratio") !== undefined);
  assert.equal(sampleValue(prom, "bulwark_memory_pressure_level"), 0);
  assert.ok(prom.types.has("bulwark_requests_rate_limited_total"));
  // Every prompt token is looked up in the prefix cache; the repeated "hi" prompts hit it (all
  // but the one token that must be evaluated again).
  const queries = sampleValue(prom, "bulwark_prefix_cache_queries_total", { model: "fake" })!;
  assert.equal(queries, sampleValue(prom, "bulwark_prompt_tokens_total", { model: "fake" }));
  const hits = sampleValue(prom, "bulwark_prefix_cache_hits_total", { model: "fake" })!;
  assert.ok(hits >= 2 && hits < queries, `${hits} of ${queries}`);
  assert.equal(sampleValue(prom, "bulwark_alert_firing", { alert: "error_rate_high" }), 0);
});

test("/metrics is not counted as generation and is served as Prometheus text", async () => {
  const res = await fetch(`${server.url}/metrics`);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  await res.text();
  const prom = await scrape(server.url);
  assert.ok(
    (sampleValue(prom, "bulwark_http_requests_total", { endpoint: "/metrics", status: "200" }) ??
      0) >= 1,
  );
});

test("compiled grammars are counted as cache hits and misses", async () => {
  const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"] };
  for (let i = 0; i < 3; i++) {
    const r = await postJson(`${server.url}/v1/chat/completions`, {
      model: "fake",
      messages: [{ role: "user", content: "a number" }],
      max_tokens: 4,
      response_format: { type: "json_schema", json_schema: { name: "n", schema } },
    });
    assert.equal(r.status, 200, r.text);
  }
  const prom = await scrape(server.url);
  assert.equal(sampleValue(prom, "bulwark_cache_misses_total", { cache: "grammar" }), 1);
  assert.equal(sampleValue(prom, "bulwark_cache_hits_total", { cache: "grammar" }), 2);
});

test("every metric the shipped Prometheus alert rules use is exported", async () => {
  const rules = readFileSync(
    new URL("../../../deploy/prometheus/bulwark-alerts.yml", import.meta.url),
    "utf8",
  );
  const used = new Set(
    [...rules.matchAll(/\bbulwark_[a-z0-9_]+/g)].map((m) =>
      m[0].replace(/_(bucket|sum|count)$/, ""),
    ),
  );
  assert.ok(used.size >= 8, [...used].join(" "));
  const prom = await scrape(server.url);
  const missing = [...used].filter((name) => !prom.types.has(name));
  assert.deepEqual(missing, []);
});
