import { test } from "node:test";
import assert from "node:assert/strict";
import { fakeEngine, postJson, startTestServer, waitFor } from "../helpers/server.js";
import { sseJson } from "../helpers/sse.js";

test("draining: in-flight requests finish; those past the deadline end with shutting_down", async () => {
  const engine = fakeEngine({ tokenDelayMs: 10 });
  const server = await startTestServer(
    { models: [{ name: "m", path: "/m.gguf", slots: 2 }], server: { drainTimeoutMs: 400 } },
    { replicaFactory: engine.factory },
  );
  const quick = postJson(`${server.url}/v1/completions`, {
    model: "m",
    prompt: "a",
    max_tokens: 5,
  });
  const slow = postJson(`${server.url}/v1/completions`, {
    model: "m",
    prompt: "b",
    max_tokens: 1000,
    stream: true,
  });
  assert.ok(await waitFor(() => engine.replicas[0]!.activeJobs() === 2));
  const closing = server.close();
  const quickResult = await quick;
  assert.equal(quickResult.status, 200);
  assert.equal(quickResult.json.usage.completion_tokens, 5);
  const slowResult = await slow;
  const last = (sseJson(slowResult.text) as any[]).at(-1);
  assert.equal(last.error?.code, "shutting_down", slowResult.text.slice(-300));
  await closing;
});
