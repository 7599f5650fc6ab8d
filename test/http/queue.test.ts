import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fakeEngine } from "../helpers/server.js";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";

let gateway: TestGateway;

before(async () => {
  gateway = await buildTestGateway(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 1 }],
      scheduler: { queueLimit: 2, queueTimeoutMs: 10_000 },
    },
    { engine: fakeEngine({ tokenDelayMs: 20 }) },
  );
});
after(() => gateway.close());

test("past the queue limit requests get 503 queue_full with Retry-After; accepted ones complete", async () => {
  const send = () =>
    gateway.request("POST", "/v1/completions", { model: "fake", prompt: "x", max_tokens: 10 });
  const results = await Promise.all(Array.from({ length: 6 }, send));
  const ok = results.filter((r) => r.status === 200);
  const full = results.filter((r) => r.status === 503);
  // One running + two waiting are admitted; the other three are refused at once.
  assert.equal(ok.length, 3, results.map((r) => r.status).join(","));
  assert.equal(full.length, 3);
  for (const r of full) {
    assert.equal(r.json.error.code, "queue_full");
    assert.match(r.headers.get("retry-after") ?? "", /^\d+$/);
  }
  for (const r of ok) assert.equal(r.json.usage.completion_tokens, 10);
});
