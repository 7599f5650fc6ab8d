import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";
import { sseJson } from "../helpers/sse.js";
import { FAKE_TEXT } from "../../src/engine/fake/fake-replica.js";

// logprobs, n, echo, tools and the advertised capabilities against the fake engine: the shapes,
// the bounds and the errors. The real model's values are checked by the end-to-end tests.
let gateway: TestGateway;
const model = "fake";
const words = FAKE_TEXT.split(/(?<= )/);

before(async () => {
  gateway = await buildTestGateway({
    models: [{ name: model, path: "/models/fake.gguf", slots: 4 }],
    limits: { maxChoices: 4, maxJsonSchemaDepth: 4, maxTools: 2 },
  });
});
after(() => gateway.close());

const post = (url: string, body: unknown) => gateway.request("POST", url, body);
const chat = (body: Record<string, unknown>) =>
  post("/v1/chat/completions", {
    model,
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 4,
    ...body,
  });

/** The checks every list of alternatives passes: sorted, ≤ 0, probabilities summing to ≤ 1. */
function assertAlternatives(logprobs: number[]) {
  for (const lp of logprobs) assert.ok(lp <= 0, String(lp));
  for (let i = 1; i < logprobs.length; i++) assert.ok(logprobs[i - 1]! >= logprobs[i]!);
  assert.ok(logprobs.reduce((s, lp) => s + Math.exp(lp), 0) <= 1 + 1e-9);
}

test("chat logprobs: one entry per token, with sorted top_logprobs", async () => {
  const res = await chat({ logprobs: true, top_logprobs: 3 });
  assert.equal(res.status, 200, res.text);
  const choice = res.json.choices[0];
  const content = choice.logprobs.content as any[];
  assert.equal(content.length, res.json.usage.completion_tokens);
  assert.equal(content.map((e) => e.token).join(""), choice.message.content);
  for (const e of content) {
    assert.deepEqual(e.bytes, [...Buffer.from(e.token, "utf8")]);
    assert.equal(e.top_logprobs.length, 3);
    assertAlternatives(e.top_logprobs.map((t: any) => t.logprob));
    const listed = e.top_logprobs.find((t: any) => t.token === e.token);
    assert.equal(listed.logprob, e.logprob);
  }
  const plain = await chat({});
  assert.equal(plain.json.choices[0].logprobs, null);
});

test("chat logprobs stream with their chunks", async () => {
  const res = await chat({ logprobs: true, stream: true });
  const chunks = sseJson(res.text) as any[];
  const entries = chunks.flatMap((c) => c.choices[0].logprobs?.content ?? []);
  assert.equal(entries.length, 4);
  assert.ok(
    entries.every((e: any) => Array.isArray(e.top_logprobs) && e.top_logprobs.length === 0),
  );
});

test("completions logprobs and echo: prompt tokens first, the first with a null logprob", async () => {
  const res = await post("/v1/completions", {
    model,
    prompt: "Hi",
    max_tokens: 2,
    logprobs: 2,
    echo: true,
  });
  assert.equal(res.status, 200, res.text);
  const choice = res.json.choices[0];
  assert.equal(choice.text, `Hi${words[0]}${words[1]}`);
  const lp = choice.logprobs;
  // BOS, "H", "i", then the two generated tokens.
  assert.equal(lp.tokens.length, 5);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  assert.ok(lp.token_logprobs.slice(1).every((v: number) => v <= 0));
  assert.equal(lp.tokens.slice(-2).join(""), `${words[0]}${words[1]}`);
  assert.equal(lp.text_offset.length, 5);
  for (let i = 1; i < 5; i++) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
  const echoOnly = await post("/v1/completions", {
    model,
    prompt: "Hi",
    max_tokens: 1,
    echo: true,
  });
  assert.equal(echoOnly.json.choices[0].text, `Hi${words[0]}`);
  assert.equal(echoOnly.json.choices[0].logprobs, null);
  const streamed = await post("/v1/completions", {
    model,
    prompt: "Hi",
    max_tokens: 2,
    logprobs: 0,
    echo: true,
    stream: true,
  });
  const chunks = sseJson(streamed.text) as any[];
  assert.equal(chunks.map((c) => c.choices[0].text).join(""), choice.text);
  assert.deepEqual(
    chunks.flatMap((c) => c.choices[0].logprobs.tokens),
    lp.tokens,
  );
});

test("max_tokens 0 with echo scores the prompt and generates nothing; without echo it is a 400", async () => {
  const res = await post("/v1/completions", {
    model,
    prompt: "Hi",
    max_tokens: 0,
    logprobs: 1,
    echo: true,
  });
  assert.equal(res.status, 200, res.text);
  const choice = res.json.choices[0];
  assert.equal(choice.text, "Hi");
  assert.equal(choice.finish_reason, "length");
  assert.equal(choice.logprobs.tokens.length, 3);
  assert.equal(res.json.usage.completion_tokens, 0);
  const streamed = await post("/v1/completions", {
    model,
    prompt: "Hi",
    max_tokens: 0,
    echo: true,
    stream: true,
  });
  const chunks = sseJson(streamed.text) as any[];
  assert.equal(chunks.map((c) => c.choices[0].text).join(""), "Hi");
  const refused = await post("/v1/completions", { model, prompt: "Hi", max_tokens: 0 });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error.param, "max_tokens");
});

test("n choices: each with its index, usage counting all of them", async () => {
  const res = await chat({ n: 3 });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(
    res.json.choices.map((c: any) => c.index),
    [0, 1, 2],
  );
  assert.equal(res.json.usage.completion_tokens, 12);
  const streamed = await chat({ n: 3, stream: true, stream_options: { include_usage: true } });
  const chunks = sseJson(streamed.text) as any[];
  const usage = chunks.at(-1);
  assert.equal(usage.usage.completion_tokens, 12);
  for (const index of [0, 1, 2]) {
    const mine = chunks.filter((c) => c.choices[0]?.index === index);
    assert.equal(mine[0].choices[0].delta.role, "assistant");
    assert.equal(mine.at(-1).choices[0].finish_reason, "length");
    assert.equal(
      mine.map((c) => c.choices[0].delta.content ?? "").join(""),
      words.slice(0, 4).join(""),
    );
  }
  const completions = await post("/v1/completions", { model, prompt: "x", max_tokens: 2, n: 2 });
  assert.equal(completions.json.choices.length, 2);
  assert.equal(completions.json.usage.completion_tokens, 4);
});

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

test("tools: bad tools and choices are 400s naming the field", async () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ tool_choice: "required" }, "invalid_request", "tool_choice"],
    [
      { tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } },
      "invalid_request",
      "tool_choice",
    ],
    [{ tools: [weather, weather] }, "invalid_request", "tools[1].function.name"],
    [{ tools: [weather, weather, weather] }, "input_too_large", "tools"],
    [
      { tools: [weather], response_format: { type: "json_object" } },
      "unsupported_parameter",
      "response_format",
    ],
    [
      {
        tools: [
          {
            type: "function",
            function: {
              name: "deep",
              parameters: { a: { b: { c: { d: { e: {} } } } } },
            },
          },
        ],
      },
      "input_too_large",
      "tools[0].function.parameters",
    ],
    [
      { tools: [{ type: "function", function: { name: "has space" } }] },
      "invalid_request",
      "tools[0].function.name",
    ],
  ];
  for (const [body, code, param] of cases) {
    const res = await chat(body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.json.error.code, code);
    assert.equal(res.json.error.param, param);
  }
});

test("tools: a conversation with tool calls and tool results is accepted", async () => {
  const res = await chat({
    tools: [weather],
    tool_choice: "none",
    messages: [
      { role: "user", content: "Weather in Paris?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
    ],
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.choices[0].message.content, words.slice(0, 4).join(""));
  assert.equal(res.json.choices[0].message.tool_calls, undefined);
});

test("tools: on the grammar route, an answer in words streams as it comes; a call is held whole", async () => {
  const streamed = async (tool_choice: string) => {
    const res = await chat({ tools: [weather], tool_choice, max_tokens: 6, stream: true });
    assert.equal(res.status, 200, res.text);
    return (sseJson(res.text) as any[]).filter((c) => c.choices[0]?.delta.content);
  };
  // The fake engine writes words: `auto` knows from the first character that it is text.
  const auto = await streamed("auto");
  assert.equal(auto.length, 6);
  assert.equal(auto[0].choices[0].delta.role, "assistant");
  assert.equal(auto.map((c) => c.choices[0].delta.content).join(""), words.slice(0, 6).join(""));
  // `required` is a call by construction: nothing goes out before the answer is whole.
  const required = await streamed("required");
  assert.equal(required.length, 1);
  assert.equal(required[0].choices[0].delta.content, words.slice(0, 6).join(""));
});

test("/v1/models states each model's capabilities", async () => {
  const res = await gateway.request("GET", "/v1/models");
  const entry = res.json.data[0];
  assert.equal(entry.context_length, entry.max_model_len);
  for (const p of ["tools", "tool_choice", "response_format", "logprobs", "top_logprobs", "n"]) {
    assert.ok(entry.supported_parameters.includes(p), p);
  }
  assert.equal(entry.capabilities.structured_outputs, true);
  assert.equal(entry.capabilities.tools, true);
  assert.equal(entry.capabilities.tool_call_format, null);
  assert.equal(entry.capabilities.tool_call_route, "grammar");
  assert.equal(entry.capabilities.embeddings, true);
  assert.equal(entry.capabilities.max_choices, 4);
});
