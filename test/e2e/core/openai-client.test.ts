import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { STORIES_GREEDY_64, STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const modelPath = storiesModel();
let server: TestServer;
let client: OpenAI;

before(async () => {
  if (!modelPath) return;
  server = await startTestServer({
    models: [{ name: "stories", path: modelPath, slots: 2 }],
    engine: { contextSize: 512 }, // gpu: auto, the default
  });
  assert.ok(
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(() => server?.close());

test("openai client: chat without streaming", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const completion = await client.chat.completions.create({
    model: "stories",
    messages: [
      { role: "system", content: "You tell stories." },
      { role: "user", content: "Tell me about a dog." },
    ],
    max_tokens: 24,
    temperature: 0,
  });
  assert.equal(completion.object, "chat.completion");
  assert.equal(completion.choices[0]!.message.role, "assistant");
  assert.ok((completion.choices[0]!.message.content ?? "").length > 0);
  assert.ok(completion.usage!.prompt_tokens > 0);
});

test("openai client: chat with streaming and usage", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const stream = await client.chat.completions.create({
    model: "stories",
    messages: [{ role: "user", content: "Tell me about a dog." }],
    max_tokens: 24,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(text.length > 0);
  assert.ok(finish === "length" || finish === "stop");
  assert.ok(usage && usage.completion_tokens > 0);
});

test("openai client: completions", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const completion = await client.completions.create({
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 64,
    temperature: 0,
  });
  assert.equal(completion.choices[0]!.text, STORIES_GREEDY_64);
  assert.equal(completion.usage!.completion_tokens, 64);
});

test("openai client: embeddings", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const result = await client.embeddings.create({ model: "stories", input: "a small cat" });
  assert.equal(result.data.length, 1);
  assert.equal(result.data[0]!.embedding.length, 64);
  const b64 = await client.embeddings.create({
    model: "stories",
    input: "a small cat",
    encoding_format: "base64",
  });
  assert.equal(typeof b64.data[0]!.embedding, "string");
});

test("gpu auto falls back to the CPU where no GPU backend loads; the chat fallback is reported", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const health = (await (await fetch(`${server.url}/health`)).json()) as any;
  const model = health.models[0];
  assert.ok(typeof model.gpu === "string" && model.gpu.length > 0);
  t.diagnostic(`gpu backend in use: ${model.gpu}`);
  assert.equal(model.chatFormat, "fallback:Llama2Chat", "stories260K has no chat template");
  assert.equal(model.threads, 1);
});

test("openai client: models.list, and errors surface as APIError", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.deepEqual(
    models.map((m) => m.id),
    ["stories"],
  );
  await assert.rejects(
    client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }),
    (err: unknown) =>
      err instanceof OpenAI.NotFoundError && (err.error as any)?.code === "model_not_found",
  );
});
