import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fakeEngine, postJson, startTestServer, type TestServer } from "../helpers/server.js";

let server: TestServer;

before(async () => {
  const engine = fakeEngine({ tokenDelayMs: 20 });
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 1 }],
      scheduler: { queueLimit: 2, queueTimeoutMs: 10_000 },
    },
    { replicaFactory: engine.factory },
  );
});
after(() => server.close());

test("past the queue limit requests get 503 queue_full with Retry-After; accepted ones complete", async () => {
  const send = () =>
    postJson(`${server.url}/v1/completions`, { model: "fake", prompt: "x", max_tokens: 10 });
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
