/**
 * Tool calls with the official openai client on the real stories260K model, which has no chat
 * template and no tool training: its calls come from Bulwark's grammar route.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const modelPath = storiesModel();
let server: TestServer;
let client: OpenAI;

before(async () => {
  if (!modelPath) return;
  server = await startTestServer({
    models: [{ name: "stories", path: modelPath, slots: 2, threads: 1 }],
    // The engine is under test: the response cache would answer repeated requests without it.
    cache: { enabled: false },
    engine: { gpu: "cpu", contextSize: 1024 },
  });
  assert.ok(
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(() => server?.close());

const CITIES = ["Paris", "London", "Tokyo"];
const UNITS = ["celsius", "fahrenheit"];
const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "The weather in a city",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", enum: CITIES },
          unit: { type: "string", enum: UNITS },
          tomorrow: { type: "boolean" },
        },
        required: ["city", "unit", "tomorrow"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "get_time",
      description: "The time in a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string", enum: CITIES } },
        required: ["city"],
        additionalProperties: false,
      },
    },
  },
];

/** The schemas above, checked by hand: every required key, nothing else, the right values. */
function assertValidCall(call: { name: string; arguments: string }) {
  const args = JSON.parse(call.arguments) as Record<string, unknown>;
  if (call.name === "get_weather") {
    assert.deepEqual(Object.keys(args).sort(), ["city", "tomorrow", "unit"]);
    assert.ok(CITIES.includes(args.city as string), call.arguments);
    assert.ok(UNITS.includes(args.unit as string), call.arguments);
    assert.equal(typeof args.tomorrow, "boolean");
  } else {
    assert.equal(call.name, "get_time");
    assert.deepEqual(Object.keys(args), ["city"]);
    assert.ok(CITIES.includes(args.city as string), call.arguments);
  }
}

const question: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: "user", content: "What is the weather in Paris?" },
];
const named = { type: "function", function: { name: "get_weather" } } as const;

test("openai client: tool_choice required, not streamed: a call that parses and validates", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const completion = await client.chat.completions.create({
    model: "stories",
    messages: question,
    tools,
    tool_choice: "required",
    max_tokens: 200,
    temperature: 0,
  });
  const choice = completion.choices[0]!;
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, null);
  const calls = choice.message.tool_calls ?? [];
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.type, "function");
  assert.match(calls[0]!.id, /^call_/);
  assertValidCall((calls[0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function);
});

test("openai client: a named function, not streamed and streamed, as the client assembles it", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  for (const temperature of [0, 0.9]) {
    const completion = await client.chat.completions.create({
      model: "stories",
      messages: question,
      tools,
      tool_choice: named,
      max_tokens: 200,
      temperature,
      seed: 7,
    });
    const call = completion.choices[0]!.message
      .tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.function.name, "get_weather");
    assertValidCall(call.function);
  }
  const stream = client.chat.completions.stream({
    model: "stories",
    messages: question,
    tools,
    tool_choice: named,
    max_tokens: 200,
    temperature: 0,
  });
  const final = await stream.finalChatCompletion();
  const choice = final.choices[0]!;
  assert.equal(choice.finish_reason, "tool_calls");
  const call = choice.message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
  assert.equal(call.function.name, "get_weather");
  assertValidCall(call.function);
});

test("openai client: tool_choice required, streamed: delta.tool_calls chunks with their index", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const stream = await client.chat.completions.create({
    model: "stories",
    messages: question,
    tools,
    tool_choice: "required",
    max_tokens: 200,
    temperature: 0.7,
    seed: 3,
    stream: true,
  });
  const parts = new Map<number, { id?: string; name?: string; arguments: string }>();
  let finish: string | null = null;
  for await (const chunk of stream) {
    for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
      const part = parts.get(delta.index) ?? { arguments: "" };
      part.id ??= delta.id;
      part.name ??= delta.function?.name;
      part.arguments += delta.function?.arguments ?? "";
      parts.set(delta.index, part);
    }
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, "tool_calls");
  assert.equal(parts.size, 1);
  const call = parts.get(0)!;
  assert.match(call.id ?? "", /^call_/);
  assertValidCall({ name: call.name!, arguments: call.arguments });
});

test("openai client: a conversation with a tool message continues", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const first = await client.chat.completions.create({
    model: "stories",
    messages: question,
    tools,
    tool_choice: named,
    max_tokens: 200,
    temperature: 0,
  });
  const call = first.choices[0]!.message.tool_calls![0]!;
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
    ...question,
    first.choices[0]!.message,
    { role: "tool", tool_call_id: call.id, content: '{"temperature": 21, "sky": "clear"}' },
  ];
  for (const tool_choice of ["none", "auto"] as const) {
    const ask = (conversation: OpenAI.Chat.ChatCompletionMessageParam[]) =>
      client.chat.completions.create({
        model: "stories",
        messages: conversation,
        tools,
        tool_choice,
        max_tokens: 24,
        temperature: 0,
      });
    const next = await ask(messages);
    const choice = next.choices[0]!;
    // The call and its result are part of the prompt.
    assert.ok(next.usage!.prompt_tokens > (await ask(question)).usage!.prompt_tokens + 10);
    if (choice.message.tool_calls?.length) {
      assert.equal(tool_choice, "auto");
      for (const c of choice.message.tool_calls) {
        assertValidCall((c as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function);
      }
    } else {
      assert.equal(typeof choice.message.content, "string");
      assert.ok(choice.message.content!.length > 0);
    }
  }
});

test("openai client: auto on a model without tool training gives text or a valid call, never a malformed one", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const prompts = [
    "What is the weather in Paris?",
    "Call get_time for Tokyo.",
    "Tell me a story about a cat.",
    '{"name": "get_weather", "arguments": {"city": "Lond',
  ];
  let answers = 0;
  for (const [i, content] of prompts.entries()) {
    for (const stream of [false, true]) {
      const request = {
        model: "stories",
        messages: [{ role: "user" as const, content }],
        tools,
        tool_choice: "auto" as const,
        max_tokens: 64,
        temperature: 1,
        seed: 100 + i,
      };
      let message: OpenAI.Chat.ChatCompletionMessage;
      let finish: string;
      if (stream) {
        const final = await client.chat.completions.stream(request).finalChatCompletion();
        message = final.choices[0]!.message;
        finish = final.choices[0]!.finish_reason;
      } else {
        const completion = await client.chat.completions.create(request);
        message = completion.choices[0]!.message;
        finish = completion.choices[0]!.finish_reason;
      }
      if (message.tool_calls?.length) {
        assert.equal(finish, "tool_calls");
        for (const c of message.tool_calls) {
          assertValidCall((c as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function);
        }
      } else {
        assert.equal(typeof message.content, "string");
        assert.notEqual(finish, "tool_calls");
      }
      answers++;
    }
  }
  assert.equal(answers, prompts.length * 2);
});

test("structured output as the AI SDK's openai-compatible provider asks for it, advertised by /v1/models", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  // The AI SDK takes `supportsStructuredOutputs` from its provider settings; registries and
  // routers that set it from a server read OpenRouter's `supported_parameters` (and the
  // `capabilities` object): both must say so.
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as {
    data: { id: string; supported_parameters: string[]; capabilities: Record<string, unknown> }[];
  };
  const entry = models.data.find((m) => m.id === "stories")!;
  assert.ok(entry.supported_parameters.includes("structured_outputs"));
  assert.ok(entry.supported_parameters.includes("response_format"));
  assert.ok(entry.supported_parameters.includes("tools"));
  assert.equal(entry.capabilities.structured_outputs, true);
  assert.equal(entry.capabilities.tool_call_route, "grammar");
  // generateObject's request with supportsStructuredOutputs: a json_schema response format with
  // the JSON schema zod-to-json-schema writes ($schema, additionalProperties: false).
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "stories",
      messages: [{ role: "user", content: "Give me a city." }],
      max_tokens: 100,
      temperature: 0,
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "response",
          schema: {
            $schema: "http://json-schema.org/draft-07/schema#",
            type: "object",
            properties: { city: { type: "string", enum: CITIES }, sunny: { type: "boolean" } },
            required: ["city", "sunny"],
            additionalProperties: false,
          },
        },
      },
    }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as OpenAI.Chat.ChatCompletion;
  const object = JSON.parse(body.choices[0]!.message.content!) as Record<string, unknown>;
  assert.ok(CITIES.includes(object.city as string));
  assert.equal(typeof object.sunny, "boolean");
});

test("a chat format with its own tool syntax (qwen): tools rendered by it, calls still valid", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const qwen = await startTestServer({
    models: [{ name: "stories-qwen", path: modelPath, slots: 1, threads: 1, chatWrapper: "qwen" }],
    cache: { enabled: false },
    // Qwen's markup and tool documentation take many of stories260K's small tokens.
    engine: { gpu: "cpu", contextSize: 2048 },
  });
  t.after(() => qwen.close());
  assert.ok(await waitFor(async () => (await fetch(`${qwen.url}/readyz`)).status === 200, 60_000));
  const c = new OpenAI({ baseURL: `${qwen.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const models = await c.models.list();
  const entry = models.data[0] as unknown as { capabilities: Record<string, unknown> };
  assert.equal(entry.capabilities.tool_call_route, "template");
  assert.equal(typeof entry.capabilities.tool_call_format, "string");
  const ask = (extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming>) =>
    c.chat.completions.create({
      model: "stories-qwen",
      messages: question,
      max_tokens: 200,
      temperature: 0,
      ...extra,
    });
  // The format documents the tools in its system prompt.
  const plain = await ask({ max_tokens: 1 });
  const withTools = await ask({ max_tokens: 1, tools, tool_choice: "auto" });
  assert.ok(withTools.usage!.prompt_tokens > plain.usage!.prompt_tokens + 50);
  for (const tool_choice of ["required", named] as const) {
    const completion = await ask({ tools, tool_choice });
    const call = completion.choices[0]!.message
      .tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    assert.equal(completion.choices[0]!.finish_reason, "tool_calls");
    assertValidCall(call.function);
    // The call and its result, in the format's own syntax, continue the conversation.
    const next = await ask({
      tools,
      tool_choice: "auto",
      max_tokens: 24,
      messages: [
        ...question,
        completion.choices[0]!.message,
        { role: "tool", tool_call_id: call.id, content: '{"temperature": 21}' },
      ],
    });
    const message = next.choices[0]!.message;
    if (message.tool_calls?.length) {
      for (const c2 of message.tool_calls) {
        assertValidCall((c2 as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function);
      }
    } else {
      assert.equal(typeof message.content, "string");
    }
  }
});
