import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";
import { parseSse, sseJson } from "../helpers/sse.js";
import { FAKE_TEXT } from "../../src/engine/fake/fake-replica.js";

let gateway: TestGateway;

before(async () => {
  gateway = await buildTestGateway({ models: [{ name: "fake", path: "/models/fake.gguf" }] });
});
after(() => gateway.close());

const postJson = (url: string, body: unknown) => gateway.request("POST", url, body);

const words = FAKE_TEXT.split(/(?<= )/);

test("chat streaming: role with the first token, null finish reasons, usage, [DONE]", async () => {
  const res = await postJson(`/v1/chat/completions`, {
    model: "fake",
    messages: [{ role: "user", content: "hello" }],
    max_tokens: 5,
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const data = parseSse(res.text);
  assert.equal(data.at(-1), "[DONE]");
  const chunks = sseJson(res.text) as any[];
  const content = chunks.filter((c) => c.choices.length > 0);
  assert.deepEqual(content[0].choices[0].delta, { role: "assistant", content: words[0] });
  for (const c of content.slice(1)) assert.equal(c.choices[0].delta.role, undefined);
  for (const c of content.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
  assert.deepEqual(content.at(-1).choices[0], {
    index: 0,
    delta: {},
    logprobs: null,
    finish_reason: "length",
  });
  const text = content.map((c) => c.choices[0].delta.content ?? "").join("");
  assert.equal(text, words.slice(0, 5).join(""));
  const usage = chunks.at(-1);
  assert.deepEqual(usage.choices, []);
  assert.equal(usage.usage.completion_tokens, 5);
  assert.equal(usage.usage.total_tokens, usage.usage.prompt_tokens + 5);
  assert.ok(chunks.every((c) => c.id === chunks[0].id && c.object === "chat.completion.chunk"));
});

test("without include_usage no usage chunk is sent", async () => {
  const res = await postJson(`/v1/chat/completions`, {
    model: "fake",
    messages: [{ role: "user", content: "hello" }],
    max_tokens: 3,
    stream: true,
  });
  const chunks = sseJson(res.text) as any[];
  assert.ok(chunks.every((c) => c.choices.length === 1 && c.usage === undefined));
});

test("streaming and non-streaming give the same text and usage", async () => {
  const body = { model: "fake", prompt: "abc", max_tokens: 9 };
  const whole = await postJson(`/v1/completions`, body);
  const streamed = await postJson(`/v1/completions`, {
    ...body,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = sseJson(streamed.text) as any[];
  const text = chunks
    .filter((c) => c.choices.length)
    .map((c) => c.choices[0].text)
    .join("");
  assert.equal(whole.json.choices[0].text, text);
  assert.equal(whole.json.object, "text_completion");
  const streamedUsage = chunks.at(-1).usage;
  assert.deepEqual(
    { ...whole.json.usage, prompt_tokens_details: undefined },
    { ...streamedUsage, prompt_tokens_details: undefined },
  );
  assert.equal(whole.json.usage.prompt_tokens, 4, "BOS + 3 code points");
  // The second request found the first one's prompt in the slot's cache: all but the last token.
  assert.equal(streamedUsage.prompt_tokens_details.cached_tokens, 3);
});

test("a stop string ends the generation and is not returned", async () => {
  const stop = words[3]!.trim();
  const res = await postJson(`/v1/chat/completions`, {
    model: "fake",
    messages: [{ role: "user", content: "x" }],
    stop: [stop],
    stream: true,
  });
  const chunks = sseJson(res.text) as any[];
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
  assert.equal(text, words.slice(0, 3).join("") + words[3]!.slice(0, words[3]!.indexOf(stop)));
  assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
});

test("a request refused before its first token is an ordinary HTTP error, not a stream", async () => {
  const res = await postJson(`/v1/chat/completions`, {
    model: "missing",
    messages: [{ role: "user", content: "x" }],
    stream: true,
  });
  assert.equal(res.status, 404);
  assert.equal(res.json.error.code, "model_not_found");
});
