import { test } from "node:test";
import assert from "node:assert/strict";
import { postJson, startTestServer, waitFor } from "../../helpers/server.js";
import { sampleValue, scrape } from "../../helpers/prometheus.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const modelPath = storiesModel();
const health = async (url: string) => (await (await fetch(`${url}/health`)).json()) as any;

test("a real worker's RSS and CPU show in /health and /metrics", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const server = await startTestServer({
    models: [{ name: "stories", path: modelPath, slots: 1 }],
    engine: { gpu: "cpu", contextSize: 256, threads: 1 },
    guards: { sampleIntervalMs: 100 },
  });
  try {
    assert.ok(
      await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
    );
    const res = await postJson(`${server.url}/v1/completions`, {
      model: "stories",
      prompt: "Once upon a time",
      max_tokens: 16,
    });
    assert.equal(res.status, 200, res.text);
    let worker: any;
    assert.ok(
      await waitFor(async () => {
        worker = (await health(server.url)).guard.processes.find((p: any) => p.role === "worker");
        return worker?.rss_bytes > 0;
      }, 10_000),
    );
    const h = await health(server.url);
    const replica = h.models[0].replicas[0];
    assert.equal(worker.pid, replica.pid);
    assert.notEqual(worker.pid, process.pid);
    // A Node process with llama.cpp loaded holds tens of MiB.
    assert.ok(worker.rss_bytes > 20 * 1024 * 1024, `worker RSS ${worker.rss_bytes}`);
    assert.ok(["meminfo", "cgroup", "os"].includes(h.guard.memory.source));
    assert.ok(h.guard.memory.limit_bytes > 0);
    const prom = await scrape(server.url);
    const rss = sampleValue(prom, "bulwark_process_resident_memory_bytes", {
      role: "worker",
      model: "stories",
      pid: String(worker.pid),
    });
    assert.ok(rss !== undefined && rss > 20 * 1024 * 1024, `metric RSS ${rss}`);
    assert.ok(
      (sampleValue(prom, "bulwark_process_cpu_seconds", { role: "worker", model: "stories" }) ??
        0) > 0,
    );
    assert.equal(sampleValue(prom, "bulwark_model_load_seconds_count", { model: "stories" }), 1);
    assert.equal(sampleValue(prom, "bulwark_generation_tokens_total", { model: "stories" }), 16);

    // The same prompt again: the slot's KV cache holds it, and the prefix cache counts it.
    const again = await postJson(`${server.url}/v1/completions`, {
      model: "stories",
      prompt: "Once upon a time",
      max_tokens: 16,
    });
    assert.equal(again.status, 200, again.text);
    const cached = again.json.usage.prompt_tokens_details.cached_tokens as number;
    assert.ok(cached > 0, `cached_tokens ${cached}`);
    const after = await scrape(server.url);
    assert.equal(
      sampleValue(after, "bulwark_prefix_cache_queries_total", { model: "stories" }),
      res.json.usage.prompt_tokens + again.json.usage.prompt_tokens,
    );
    assert.equal(
      sampleValue(after, "bulwark_prefix_cache_hits_total", { model: "stories" }),
      cached,
    );
  } finally {
    await server.close();
  }
});

test("a load is refused with the numbers when the warn threshold is below current use", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const server = await startTestServer({
    models: [{ name: "stories", path: modelPath, slots: 1 }],
    engine: { gpu: "cpu", contextSize: 256, threads: 1, restartBackoffMs: 200 },
    scheduler: { queueTimeoutMs: 500 },
    guards: { sampleIntervalMs: 100, warnPercent: 0.01 },
  });
  try {
    let replica: any;
    assert.ok(
      await waitFor(async () => {
        replica = (await health(server.url)).models[0].replicas[0];
        return /warn threshold/.test(replica.lastError ?? "");
      }, 10_000),
    );
    assert.match(
      replica.lastError,
      /^Loading a replica of model stories needs an estimated [\d.]+ MiB \(weights [\d.]+ MiB, KV cache [\d.]+ MiB, process [\d.]+ MiB\); [\d.]+ MiB is in use.*over the warn threshold of 0\.01%/,
    );
    const h = await health(server.url);
    assert.equal(h.models[0].ready, false);
    assert.equal(
      h.guard.processes.filter((p: any) => p.role === "worker").length,
      0,
      "no worker spawned",
    );
    assert.equal((await fetch(`${server.url}/readyz`)).status, 503);
    const res = await postJson(`${server.url}/v1/completions`, { model: "stories", prompt: "x" });
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, "model_not_ready");
    const refused = server.logs.find((l) => l.msg === "model load refused");
    assert.equal(refused?.model, "stories");
    const prom = await scrape(server.url);
    assert.ok(
      (sampleValue(prom, "bulwark_model_loads_refused_total", { model: "stories" }) ?? 0) >= 1,
    );
  } finally {
    await server.close();
  }
});
