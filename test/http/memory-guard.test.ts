import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  fakeEngine,
  postJson,
  settableMemory,
  startTestServer,
  waitFor,
  type TestServer,
} from "../helpers/server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../helpers/webhook.js";
import { sampleValue, scrape } from "../helpers/prometheus.js";

// The memory source is injected: the test sets the use, the real guard, shedding, reclaim,
// supervisor and admission act on it.
const memory = settableMemory(50);
let server: TestServer;
let engine: ReturnType<typeof fakeEngine>;
let hook: WebhookReceiver;

const health = async () => (await (await fetch(`${server.url}/health`)).json()) as any;
const levelIs = (level: string) => async () => (await health()).guard.level === level;

before(async () => {
  hook = await startWebhookReceiver();
  engine = fakeEngine({ tokenDelayMs: 20, rssBytes: 50_000_000 });
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 2, replicas: 2 }],
      engine: { restartBackoffMs: 20, restartBackoffMaxMs: 100 },
      scheduler: { queueTimeoutMs: 30_000 },
      guards: {
        sampleIntervalMs: 20,
        reclaimCooldownMs: 300,
        ladderStepMs: 60_000,
        ladder: [{ model: "fake", slots: 1, maxTokens: 5 }],
      },
      alerts: { evaluateIntervalMs: 50, webhookUrl: hook.url },
    },
    { replicaFactory: engine.factory, memorySource: memory.source },
  );
  assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
});
after(async () => {
  await server.close();
  await hook.close();
});

const complete = (max_tokens: number) =>
  postJson(`${server.url}/v1/completions`, { model: "fake", prompt: "x", max_tokens });

test("warn → shed → reclaim → resume: alerts, 503 with Retry-After, reclaim in order, no accepted request lost", async () => {
  assert.equal((await health()).guard.level, "ok");
  assert.equal((await complete(3)).status, 200);

  // 82%: warn. The alert fires, the ladder takes its first rung; requests are still admitted.
  memory.percent = 82;
  assert.ok(await waitFor(levelIs("warn")));
  let h = await health();
  assert.equal(h.guard.degradation.fake.step, 1);
  assert.ok(h.alerts.some((a: any) => a.alert === "memory_pressure" && a.labels.level === "warn"));
  const inFlight = Array.from({ length: 4 }, () => complete(60));
  // Accepted means admitted by the server: wait until all four hold a slot or a queue place.
  assert.ok(
    await waitFor(async () => {
      const m = (await health()).models[0];
      return m.slots.busy + m.queue.waiting >= 4;
    }),
  );

  // 92%: shed. New generation requests get 503 memory_pressure with Retry-After.
  memory.percent = 92;
  assert.ok(await waitFor(levelIs("shed")));
  for (const path of ["/v1/completions", "/v1/chat/completions", "/v1/embeddings"]) {
    const res = await postJson(`${server.url}${path}`, { model: "fake", prompt: "x" });
    assert.equal(res.status, 503, path);
    assert.equal(res.json.error.code, "memory_pressure");
    assert.equal(res.json.error.type, "service_unavailable");
    assert.match(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
  }
  for (const path of ["/livez", "/readyz", "/health", "/metrics", "/v1/models"]) {
    assert.equal((await fetch(`${server.url}${path}`)).status, 200, `${path} stays up`);
  }

  // 97%: reclaim. Caches, idle replicas, then the largest worker, whose requests re-queue.
  memory.percent = 97;
  assert.ok(
    await waitFor(async () =>
      (await health()).guard.recent_actions.some((a: any) => a.action === "stop_largest_worker"),
    ),
  );
  h = await health();
  const actions = h.guard.recent_actions.map((a: any) => a.action);
  assert.ok(actions.indexOf("clear_caches") < actions.indexOf("stop_largest_worker"));
  assert.ok(actions.includes("unload_idle"));
  // The stopped worker's restart is refused while memory is this high.
  assert.ok(
    await waitFor(() => server.logs.some((l) => l.msg === "model load refused")),
    "restart refused under pressure",
  );

  // 50%: below the 85% resume watermark. Shedding ends, the worker loads again.
  memory.percent = 50;
  assert.ok(await waitFor(levelIs("ok")));
  const results = await Promise.all(inFlight);
  for (const r of results) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.usage.completion_tokens, 60);
  }
  assert.equal((await complete(3)).status, 200);
  // The restarted worker got the ladder's rung: one slot.
  h = await health();
  assert.ok(h.models[0].replicas.some((r: any) => r.slots === 1 && r.state === "ready"));

  const prom = await scrape(server.url);
  assert.ok(
    (sampleValue(prom, "bulwark_requests_shed_total", { reason: "memory_pressure" }) ?? 0) >= 3,
  );
  assert.ok((sampleValue(prom, "bulwark_model_loads_refused_total", { model: "fake" }) ?? 0) >= 1);
  assert.ok((sampleValue(prom, "bulwark_worker_restarts_total", { model: "fake" }) ?? 0) >= 1);
  assert.equal(sampleValue(prom, "bulwark_memory_pressure_level"), 0);

  // The webhook saw the pressure fire at each level and resolve.
  assert.ok(await waitFor(() => hook.events.some((e) => e.state === "resolved")));
  const pressure = hook.events.filter((e) => e.alert === "memory_pressure");
  assert.deepEqual(
    pressure.map((e) => `${e.state}:${e.labels.level}`),
    ["firing:warn", "firing:shed", "firing:reclaim", "resolved:ok"],
  );
});
