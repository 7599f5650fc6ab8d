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
import { sampleValue, scrape } from "../helpers/prometheus.js";

// Reclaim unloads an idle model whole. The memory use is injected; the guard, the supervisor
// and load admission act on it for real.
const memory = settableMemory(50);
let server: TestServer;
let engine: ReturnType<typeof fakeEngine>;

const health = async () => (await (await fetch(`${server.url}/health`)).json()) as any;
const model = async (name: string) => (await health()).models.find((m: any) => m.name === name);
const spawned = (name: string) => engine.replicas.filter((r) => r.modelName === name).length;
const complete = (name: string, max_tokens: number) =>
  postJson(`${server.url}/v1/completions`, { model: name, prompt: "x", max_tokens });

before(async () => {
  engine = fakeEngine({ tokenDelayMs: 20, rssBytes: 50_000_000 });
  server = await startTestServer(
    {
      models: [
        { name: "busy", path: "/models/busy.gguf", slots: 1 },
        { name: "idle", path: "/models/idle.gguf", slots: 1 },
      ],
      engine: { restartBackoffMs: 20, restartBackoffMaxMs: 100 },
      scheduler: { queueTimeoutMs: 30_000 },
      // The fake engine's files do not exist: each load is estimated at the overhead alone.
      guards: { sampleIntervalMs: 20, reclaimCooldownMs: 3_000, workerOverheadBytes: 100e6 },
    },
    { replicaFactory: engine.factory, memorySource: memory.source },
  );
  assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
});
after(() => server.close());

test("reclaim unloads the idle model whole; it stays ready and its next request loads it again", async () => {
  assert.equal((await complete("idle", 3)).status, 200);
  // A long request keeps "busy" in use, so "idle" is the one reclaim may unload.
  const running = complete("busy", 150);
  assert.ok(await waitFor(async () => (await model("busy")).slots.busy === 1));

  memory.percent = 97;
  assert.ok(await waitFor(async () => (await model("idle")).unloaded === true));
  const h = await health();
  const actions = h.guard.recent_actions.map((a: any) => `${a.action}:${a.detail}`);
  assert.ok(actions.includes("unload_idle_model:idle"), actions.join(" "));
  assert.ok(!actions.some((a: string) => a.startsWith("stop_largest_worker")), "nothing killed");
  const idle = h.models.find((m: any) => m.name === "idle");
  assert.equal(idle.ready, false);
  assert.deepEqual(
    idle.replicas.map((r: any) => r.state),
    ["unloaded"],
  );
  assert.equal((await model("busy")).unloaded, false);
  assert.equal(engine.replicas.find((r) => r.modelName === "idle")!.state(), "stopped");
  // Unloaded on purpose is not "down": /readyz and /health stay green.
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  assert.equal(h.status, "ok");
  const prom = await scrape(server.url);
  assert.equal(sampleValue(prom, "bulwark_model_unloaded", { model: "idle" }), 1);
  assert.equal(sampleValue(prom, "bulwark_model_unloaded", { model: "busy" }), 0);

  // Pressure falls to warn (requests admitted again). A request for the unloaded model asks
  // for a load that would cross the warn threshold: refused with the numbers, not queued.
  memory.percent = 82;
  assert.ok(await waitFor(async () => (await health()).guard.level === "warn"));
  const refused = await complete("idle", 3);
  assert.equal(refused.status, 503, refused.text);
  assert.equal(refused.json.error.code, "model_load_refused_memory");
  assert.match(refused.json.error.message, /needs an estimated [\d.]+ MiB.*warn threshold of 80%/);
  assert.match(refused.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
  assert.equal((await model("idle")).unloaded, true, "a refused load leaves it unloaded");
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  const built = spawned("idle");

  // Back to ok: the unloaded model is not reloaded until a request needs it.
  memory.percent = 50;
  assert.ok(await waitFor(async () => (await health()).guard.level === "ok"));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await model("idle")).unloaded, true);
  assert.equal(spawned("idle"), built);

  const again = await complete("idle", 4);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.usage.completion_tokens, 4);
  assert.equal(spawned("idle"), built + 1, "the request loaded a fresh worker");
  const loaded = await model("idle");
  assert.equal(loaded.unloaded, false);
  assert.equal(loaded.ready, true);

  const done = await running;
  assert.equal(done.status, 200, done.text);
  assert.equal(done.json.usage.completion_tokens, 150);
  assert.equal(
    sampleValue(await scrape(server.url), "bulwark_model_unloaded", { model: "idle" }),
    0,
  );
});
