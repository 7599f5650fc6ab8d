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

test("SIGTERM with server.shutdownDelayMs: /readyz fails first, requests are still served (closing their connection), then the listener closes", async () => {
  const engine = fakeEngine();
  const server = await startTestServer(
    { models: [{ name: "m", path: "/m.gguf" }], server: { shutdownDelayMs: 600 } },
    { replicaFactory: engine.factory },
  );
  assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
  const t0 = Date.now();
  const closing = server.close();
  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as { status: string }).status, "draining");
  const served = await postJson(`${server.url}/v1/completions`, {
    model: "m",
    prompt: "a",
    max_tokens: 2,
  });
  assert.equal(served.status, 200, served.text);
  assert.equal(served.headers.get("connection"), "close");
  await closing;
  assert.ok(Date.now() - t0 >= 600, "the listener stayed open for the delay");
  await assert.rejects(fetch(`${server.url}/readyz`));
});
