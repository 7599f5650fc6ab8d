import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { postJson, startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { sseJson } from "../../helpers/sse.js";
import { STORIES_GREEDY_64, STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const modelPath = storiesModel();
let server: TestServer;

before(async () => {
  if (!modelPath) return;
  server = await startTestServer({
    // The engine is under test: the response cache would answer repeated requests without it.
    cache: { enabled: false },
    models: [{ name: "stories", path: modelPath, slots: 2 }],
    engine: { gpu: "cpu", contextSize: 512 },
  });
  assert.ok(
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
  );
});
after(() => server?.close());

const greedy = { model: "stories", prompt: "Once upon a time", max_tokens: 64, temperature: 0 };

test("a greedy completion of 'Once upon a time' is the published sample, with exact usage", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const res = await postJson(`${server.url}/v1/completions`, greedy);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.choices[0].text, STORIES_GREEDY_64);
  assert.equal(res.json.choices[0].finish_reason, "length");
  assert.deepEqual(res.json.usage, {
    prompt_tokens: 5, // BOS + 4
    completion_tokens: 64,
    total_tokens: 69,
    prompt_tokens_details: { cached_tokens: res.json.usage.prompt_tokens_details.cached_tokens },
  });
});

test("streaming and non-streaming give the same text (completions and chat)", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const streamed = await postJson(`${server.url}/v1/completions`, { ...greedy, stream: true });
  const text = (sseJson(streamed.text) as any[]).map((c) => c.choices[0]?.text ?? "").join("");
  assert.equal(text, STORIES_GREEDY_64);
  const chatBody = {
    model: "stories",
    messages: [{ role: "user", content: "Tell me about a cat." }],
    max_tokens: 40,
    temperature: 0,
  };
  const whole = await postJson(`${server.url}/v1/chat/completions`, chatBody);
  const chunks = await postJson(`${server.url}/v1/chat/completions`, { ...chatBody, stream: true });
  const chatText = (sseJson(chunks.text) as any[])
    .map((c) => c.choices[0]?.delta?.content ?? "")
    .join("");
  assert.equal(whole.status, 200);
  assert.ok(whole.json.choices[0].message.content.length > 0);
  assert.equal(chatText, whole.json.choices[0].message.content);
});

test("tokenize and detokenize round-trip; counts match usage", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const tok = await postJson(`${server.url}/tokenize`, {
    model: "stories",
    prompt: "Once upon a time",
  });
  assert.equal(tok.status, 200);
  assert.equal(tok.json.count, 5);
  assert.equal(tok.json.tokens[0], 1, "BOS first");
  assert.equal(tok.json.max_model_len, 512);
  const llamaShape = await postJson(`${server.url}/tokenize`, {
    model: "stories",
    content: "Once upon a time",
    add_special_tokens: false,
  });
  assert.deepEqual(llamaShape.json.tokens, tok.json.tokens.slice(1));
  const detok = await postJson(`${server.url}/detokenize`, {
    model: "stories",
    tokens: tok.json.tokens,
  });
  assert.equal(detok.json.prompt, "Once upon a time");
  const bad = await postJson(`${server.url}/detokenize`, { model: "stories", tokens: [999999] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, "tokens");
});

test("the same seed gives the same text; ignore_eos generates exactly max_tokens", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const body = {
    model: "stories",
    prompt: "The dog",
    max_tokens: 48,
    temperature: 0.9,
    seed: 1234,
  };
  const a = await postJson(`${server.url}/v1/completions`, body);
  const b = await postJson(`${server.url}/v1/completions`, body);
  assert.equal(a.json.choices[0].text, b.json.choices[0].text);
  const long = await postJson(`${server.url}/v1/completions`, {
    ...greedy,
    max_tokens: 300,
    ignore_eos: true,
  });
  assert.equal(long.json.usage.completion_tokens, 300);
  assert.equal(long.json.choices[0].finish_reason, "length");
});

test("response_format json_schema constrains the output to the schema", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const schema = {
    type: "object",
    properties: { mood: { enum: ["happy", "sad"] }, age: { type: "integer" } },
    required: ["mood", "age"],
  };
  const res = await postJson(`${server.url}/v1/chat/completions`, {
    model: "stories",
    messages: [{ role: "user", content: "How is Lily?" }],
    max_tokens: 60,
    temperature: 0,
    response_format: { type: "json_schema", json_schema: { name: "state", schema } },
  });
  assert.equal(res.status, 200, res.text);
  const parsed = JSON.parse(res.json.choices[0].message.content);
  assert.ok(["happy", "sad"].includes(parsed.mood), res.json.choices[0].message.content);
  assert.ok(Number.isInteger(parsed.age));
  const jsonObject = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Data:",
    max_tokens: 60,
    temperature: 0,
    response_format: { type: "json_object" },
  });
  assert.equal(jsonObject.status, 200);
  if (jsonObject.json.choices[0].finish_reason === "stop")
    JSON.parse(jsonObject.json.choices[0].text);
  else assert.match(jsonObject.json.choices[0].text, /^\s*\{/);
});

test("embeddings return one vector per input, sized by the model", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const res = await postJson(`${server.url}/v1/embeddings`, {
    model: "stories",
    input: ["a cat", "a dog"],
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.data.length, 2);
  assert.equal(res.json.data[0].embedding.length, 64);
  assert.ok(res.json.usage.prompt_tokens > 0);
  assert.notDeepEqual(res.json.data[0].embedding, res.json.data[1].embedding);
});

test("a prompt over the context is refused before generation", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const res = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "cat ".repeat(600),
  });
  assert.equal(res.status, 400);
  assert.equal(res.json.error.code, "context_length_exceeded");
});
