import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI, { toFile } from "openai";
import { startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { jsonl, parseJsonl } from "../../helpers/batch.js";

const modelPath = storiesModel();
let server: TestServer;
let client: OpenAI;

before(async () => {
  if (!modelPath) return;
  server = await startTestServer({
    // One slot: every request runs alone in its batch, so greedy output is exactly reproducible
    // (docs/api.md); the response cache is off so that the live requests run on the model.
    models: [{ name: "stories", path: modelPath, slots: 1 }],
    engine: { contextSize: 512 },
    cache: { enabled: false },
  });
  assert.ok(
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(() => server?.close());

const prompts = [
  "Once upon a time",
  "The little dog",
  "Lily saw a big",
  "One day, Tom",
  "The sun was",
];

async function poll(id: string, statuses: string[], timeoutMs = 120_000) {
  let batch = await client.batches.retrieve(id);
  const deadline = Date.now() + timeoutMs;
  while (!statuses.includes(batch.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    batch = await client.batches.retrieve(id);
  }
  return batch;
}

test("openai client: files.create, batches.create, retrieve until completed, files.content equals the live answers", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const bodies = prompts.map((p, i) => ({
    model: "stories",
    messages: [{ role: "user" as const, content: `${p} ${i}` }],
    max_tokens: 24,
    temperature: 0,
  }));
  const lines = bodies.map((body, i) =>
    JSON.stringify({ custom_id: `chat-${i}`, method: "POST", url: "/v1/chat/completions", body }),
  );
  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl(lines)), "chat.jsonl"),
    purpose: "batch",
  });
  assert.equal(file.purpose, "batch");
  const created = await client.batches.create({
    input_file_id: file.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
    metadata: { test: "openai" },
  });
  const batch = await poll(created.id, ["completed", "failed", "expired", "cancelled"]);
  assert.equal(batch.status, "completed", JSON.stringify(batch));
  assert.deepEqual(batch.request_counts, { total: 5, completed: 5, failed: 0 });
  const listed = await client.batches.list({ limit: 10 });
  assert.ok(listed.data.some((b) => b.id === batch.id));

  const content = await (await client.files.content(batch.output_file_id!)).text();
  const results = parseJsonl(content);
  assert.equal(results.length, 5);
  for (const [i, body] of bodies.entries()) {
    const r = results.find((x) => x.custom_id === `chat-${i}`);
    assert.ok(r, `chat-${i} is in the output`);
    assert.equal(r.response.status_code, 200);
    const live = await client.chat.completions.create(body);
    assert.equal(r.response.body.choices[0].message.content, live.choices[0]!.message.content);
    assert.equal(r.response.body.choices[0].finish_reason, live.choices[0]!.finish_reason);
    assert.equal(r.response.body.usage.completion_tokens, live.usage!.completion_tokens);
    assert.equal(r.response.body.usage.prompt_tokens, live.usage!.prompt_tokens);
  }
});

test("openai client: a completions batch matches the live completions; batches.cancel ends a running batch", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const lines = prompts.map((prompt, i) =>
    JSON.stringify({
      custom_id: `c${i}`,
      method: "POST",
      url: "/v1/completions",
      body: { model: "stories", prompt, max_tokens: 16, temperature: 0 },
    }),
  );
  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl(lines)), "completions.jsonl"),
    purpose: "batch",
  });
  const done = await poll(
    (
      await client.batches.create({
        input_file_id: file.id,
        endpoint: "/v1/completions",
        completion_window: "24h",
      })
    ).id,
    ["completed"],
  );
  const results = parseJsonl(await (await client.files.content(done.output_file_id!)).text());
  for (const [i, prompt] of prompts.entries()) {
    const live = await client.completions.create({
      model: "stories",
      prompt,
      max_tokens: 16,
      temperature: 0,
    });
    const r = results.find((x) => x.custom_id === `c${i}`);
    assert.equal(r.response.body.choices[0].text, live.choices[0]!.text);
  }

  // A long batch, cancelled at once: it ends cancelled with fewer than all of its lines.
  const long = Array.from({ length: 40 }, (_, i) =>
    JSON.stringify({
      custom_id: `long${i}`,
      method: "POST",
      url: "/v1/completions",
      body: { model: "stories", prompt: `Story ${i}:`, max_tokens: 200, ignore_eos: true },
    }),
  );
  const longFile = await client.files.create({
    file: await toFile(Buffer.from(jsonl(long)), "long.jsonl"),
    purpose: "batch",
  });
  const running = await client.batches.create({
    input_file_id: longFile.id,
    endpoint: "/v1/completions",
    completion_window: "24h",
  });
  const cancelling = await client.batches.cancel(running.id);
  assert.ok(["cancelling", "cancelled"].includes(cancelling.status));
  const cancelled = await poll(running.id, ["cancelled"]);
  assert.equal(cancelled.status, "cancelled");
  assert.ok(cancelled.request_counts!.completed < 40);
  await client.files.delete(longFile.id);
  await assert.rejects(
    client.files.retrieve(longFile.id),
    (err: { status?: number }) => err.status === 404,
  );
});
