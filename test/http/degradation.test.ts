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

const memory = settableMemory(40, 1e10);
let server: TestServer;

before(async () => {
  const engine = fakeEngine();
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf" }],
      guards: { sampleIntervalMs: 20, ladderStepMs: 0, ladder: [{ model: "fake", maxTokens: 5 }] },
    },
    { replicaFactory: engine.factory, memorySource: memory.source },
  );
  assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
});
after(() => server.close());

const step = async () =>
  sampleValue(await scrape(server.url), "bulwark_degradation_step", { model: "fake" });
const complete = () =>
  postJson(`${server.url}/v1/completions`, { model: "fake", prompt: "x", max_tokens: 20 });

test("under pressure the ladder caps max_tokens before any shedding, and lifts the cap after", async () => {
  assert.equal((await complete()).json.usage.completion_tokens, 20);
  memory.percent = 83;
  assert.ok(await waitFor(async () => (await step()) === 3));
  const h = (await (await fetch(`${server.url}/health`)).json()) as any;
  assert.deepEqual(h.guard.degradation.fake, { step: 3, name: "max_tokens_cap" });
  const capped = await complete();
  assert.equal(capped.status, 200, "warn does not shed");
  assert.equal(capped.json.usage.completion_tokens, 5);
  memory.percent = 40;
  assert.ok(await waitFor(async () => (await step()) === 0));
  assert.equal((await complete()).json.usage.completion_tokens, 20);
});
