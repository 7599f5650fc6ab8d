import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";

let gateway: TestGateway;
const model = "fake";

before(async () => {
  gateway = await buildTestGateway({
    models: [{ name: model, path: "/models/fake.gguf" }],
    engine: { contextSize: 64 },
    limits: { maxMessages: 3, maxStop: 2, maxJsonSchemaDepth: 4, maxPromptChars: 500 },
    server: { bodyLimit: 4096 },
  });
});
after(() => gateway.close());

const postJson = (url: string, body: unknown) => gateway.request("POST", url, body);

const chat = (body: Record<string, unknown>) =>
  postJson(`/v1/chat/completions`, {
    model,
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 4,
    ...body,
  });

function assertError(
  res: { status: number; json: any },
  status: number,
  code: string,
  param?: string | null,
) {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(res.json.error.code, code);
  assert.equal(typeof res.json.error.message, "string");
  assert.equal(typeof res.json.error.type, "string");
  if (param !== undefined) assert.equal(res.json.error.param, param);
}

test("malformed JSON is a 400 invalid_json, never a 500", async () => {
  const res = await postJson(`/v1/chat/completions`, '{"model": "fake", "messages": [}');
  assertError(res, 400, "invalid_json");
  const empty = await postJson(`/v1/completions`, "");
  assert.equal(empty.status, 400);
});

test("a missing or wrong field is named in param", async () => {
  assertError(
    await postJson(`/v1/chat/completions`, { messages: [] }),
    400,
    "missing_parameter",
    "model",
  );
  assertError(await chat({ temperature: 7 }), 400, "invalid_request", "temperature");
  assertError(
    await chat({ messages: [{ role: "user", content: 5 }] }),
    400,
    "invalid_request",
    "messages[0].content",
  );
  assertError(
    await chat({ messages: [{ role: "wizard", content: "x" }] }),
    400,
    "invalid_request",
    "messages[0].role",
  );
  assertError(await chat({ messages: [] }), 400, "invalid_request", "messages");
});

test("unsupported parameters get a 400 that names them", async () => {
  assertError(await chat({ n: 9 }), 400, "input_too_large", "n");
  assertError(await chat({ n: 0 }), 400, "invalid_request", "n");
  assertError(
    await chat({ tools: [{ type: "function" }] }),
    400,
    "missing_parameter",
    "tools[0].function",
  );
  assertError(await chat({ logprobs: 1 }), 400, "invalid_request", "logprobs");
  assertError(
    await chat({ top_logprobs: 21, logprobs: true }),
    400,
    "invalid_request",
    "top_logprobs",
  );
  assertError(await chat({ top_logprobs: 2 }), 400, "invalid_request", "top_logprobs");
  assertError(await chat({ best_of: 2 }), 400, "unsupported_parameter", "best_of");
  assertError(await chat({ store: true }), 400, "unsupported_parameter", "store");
  assertError(
    await postJson(`/v1/completions`, { model, prompt: "x", logprobs: 6 }),
    400,
    "invalid_request",
    "logprobs",
  );
  assertError(
    await postJson(`/v1/completions`, { model, prompt: "x", suffix: "y" }),
    400,
    "unsupported_parameter",
    "suffix",
  );
  assertError(await chat({ frobnicate: 1 }), 400, "unsupported_parameter", "frobnicate");
  assertError(
    await chat({ stream_options: { include_usage: true } }),
    400,
    "invalid_request",
    "stream_options",
  );
  const ok = await chat({ n: 1, logprobs: false, tools: [], best_of: 1, store: false });
  assert.equal(ok.status, 200, ok.text);
});

test("an unknown model is a 404 model_not_found", async () => {
  assertError(await chat({ model: "nope" }), 404, "model_not_found", "model");
});

test("bounds are enforced before any work starts", async () => {
  const many = Array.from({ length: 4 }, () => ({ role: "user", content: "x" }));
  assertError(await chat({ messages: many }), 400, "input_too_large", "messages");
  assertError(await chat({ stop: ["a", "b", "c"] }), 400, "input_too_large", "stop");
  const deep = {
    type: "object",
    properties: { a: { type: "object", properties: { b: { type: "string" } } } },
  };
  assertError(
    await chat({
      response_format: { type: "json_schema", json_schema: { name: "x", schema: deep } },
    }),
    400,
    "input_too_large",
    "response_format.json_schema.schema",
  );
  assertError(
    await chat({ messages: [{ role: "user", content: "y".repeat(600) }] }),
    400,
    "input_too_large",
    "messages",
  );
  const huge = await postJson(`/v1/chat/completions`, {
    model,
    messages: [{ role: "user", content: "z".repeat(5000) }],
  });
  assertError(huge, 413, "body_too_large");
});

test("a prompt longer than the context is 400 context_length_exceeded", async () => {
  assertError(
    await chat({ messages: [{ role: "user", content: "w".repeat(100) }] }),
    400,
    "context_length_exceeded",
    "messages",
  );
  assertError(await chat({ max_tokens: 60 }), 400, "context_length_exceeded", "max_tokens");
  assertError(
    await postJson(`/v1/completions`, { model, prompt: "q".repeat(70) }),
    400,
    "context_length_exceeded",
    "prompt",
  );
});

test("other content types and unknown routes get OpenAI-shaped errors", async () => {
  const res = await gateway.request("POST", "/v1/chat/completions", "hi", {
    "content-type": "text/plain",
  });
  assert.equal(res.status, 415);
  assert.equal(res.json.error.code, "unsupported_media_type");
  const missing = await gateway.request("GET", "/v2/nothing");
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, "not_found");
  const wrongMethod = await gateway.request("GET", "/v1/chat/completions");
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
});

test("no error response carries a stack trace or a file path", async () => {
  const bodies = [
    await postJson(`/v1/chat/completions`, "{bad"),
    await chat({ model: "nope" }),
    await chat({ temperature: "hot" }),
  ];
  for (const b of bodies) {
    assert.doesNotMatch(b.text, /at .*\.js:\d+|\/models\/fake\.gguf|node_modules/);
  }
});
