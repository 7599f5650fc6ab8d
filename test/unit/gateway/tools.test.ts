import { test } from "node:test";
import assert from "node:assert/strict";
import { parseToolCalls, resolveTools, type ToolPlan } from "../../../src/gateway/chat/tools.js";
import { GrammarCompiler } from "../../../src/gateway/shared/grammar-compiler.js";
import { chatContextOf, toolCallFormatOf } from "../../../src/engine/chat-history.js";
import { loadConfig } from "../../../src/config/index.js";
import { chatWrappers } from "node-llama-cpp";

const limits = loadConfig({ env: {}, overrides: {}, cwd: process.cwd() }).limits;
const weather = {
  type: "function" as const,
  function: {
    name: "get_weather",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" } },
      required: ["city", "days"],
    },
  },
};

async function plan(choice: Parameters<typeof resolveTools>[1], native: boolean) {
  const compiler = new GrammarCompiler(5_000);
  try {
    return (await resolveTools([weather], choice, native, limits, compiler)) as ToolPlan;
  } finally {
    await compiler.close();
  }
}

test("required and named calls get a grammar; auto only without a format of its own", async () => {
  const required = await plan("required", false);
  assert.equal(required.mode, "required");
  assert.match((required.grammar as { text: string }).text, /get_weather/);
  const named = await plan({ type: "function", function: { name: "get_weather" } }, true);
  assert.equal(named.mode, "named");
  assert.ok(named.grammar);
  const autoGrammar = await plan("auto", false);
  assert.match((autoGrammar.grammar as { text: string }).text, /^root ::= tool-call \| free-text/);
  const autoNative = await plan(undefined, true);
  assert.equal(autoNative.grammar, undefined);
  assert.equal(await plan("none", false), undefined);
});

test("grammar-route answers are read as one call, or as text", async () => {
  const p = await plan("required", false);
  const calls = parseToolCalls(
    '{ "name": "get_weather", "arguments": { "city": "Paris", "days": 2 } }',
    p,
  );
  assert.equal(calls?.length, 1);
  assert.equal(calls![0]!.name, "get_weather");
  assert.deepEqual(JSON.parse(calls![0]!.arguments), { city: "Paris", days: 2 });
  assert.match(calls![0]!.id, /^call_/);
  assert.equal(parseToolCalls("It is sunny.", p), undefined);
  // Cut short (finish_reason length): text, never a malformed call.
  assert.equal(parseToolCalls('{ "name": "get_weather", "arguments": { "city": "Pa', p), undefined);
});

test("calls in a format's own syntax are read only when every one is valid", async () => {
  const p = await plan("auto", true);
  const one = parseToolCalls(
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo", "days": 1}}\n</tool_call>',
    p,
  );
  assert.deepEqual(
    one?.map((c) => c.name),
    ["get_weather"],
  );
  const two = parseToolCalls(
    '[{"name": "get_weather", "parameters": {"city": "A", "days": 1}}, {"name": "get_weather", "parameters": {"city": "B", "days": 2}}]',
    p,
  );
  assert.equal(two?.length, 2);
  // Wrong types, unknown names and broken JSON are text.
  assert.equal(
    parseToolCalls('{"name": "get_weather", "arguments": {"city": 5, "days": 1}}', p),
    undefined,
  );
  assert.equal(parseToolCalls('{"name": "other", "arguments": {}}', p), undefined);
  assert.equal(parseToolCalls('{"name": "get_weather", "arguments": {"city": "x"', p), undefined);
  assert.equal(parseToolCalls("Just words.", p), undefined);
});

test("chat history: the grammar route describes tools and writes calls as JSON", () => {
  const messages = [
    { role: "user" as const, content: "Weather?" },
    {
      role: "assistant" as const,
      content: "",
      toolCalls: [{ id: "c1", name: "get_weather", arguments: '{"city":"Oslo","days":1}' }],
    },
    { role: "tool" as const, content: "sunny", toolCallId: "c1" },
  ];
  const tools = [{ name: "get_weather", parameters: weather.function.parameters }];
  const grammar = chatContextOf(messages, tools, false);
  assert.equal(grammar.functions, undefined);
  assert.equal(grammar.history[0]!.type, "system");
  assert.match(JSON.stringify(grammar.history), /get_weather/);
  assert.match(JSON.stringify(grammar.history[2]), /\\"name\\": \\"get_weather\\"/);
  assert.match(JSON.stringify(grammar.history[3]), /Function result: sunny/);
  assert.equal(grammar.history.at(-1)!.type, "model");
  const native = chatContextOf(messages, tools, true);
  assert.ok(native.functions?.get_weather);
  const call = (native.history[1] as { response: unknown[] }).response[0] as {
    type: string;
    result: unknown;
  };
  assert.equal(call.type, "functionCall");
  assert.equal(call.result, "sunny");
  // The tool message went with its call: no user turn of its own.
  assert.equal(native.history.length, 3);
});

test("a chat format's own tool syntax is recognized; the generic one is not", () => {
  assert.equal(toolCallFormatOf(new chatWrappers.llama2Chat()), null);
  assert.equal(toolCallFormatOf(new chatWrappers.general()), null);
  assert.equal(
    toolCallFormatOf(new chatWrappers["llama3.1"]()),
    new chatWrappers["llama3.1"]().wrapperName,
  );
  assert.notEqual(toolCallFormatOf(new chatWrappers.qwen()), null);
});

test("a recursive schema and a deeply nested answer are text, never a thrown error", async () => {
  const compiler = new GrammarCompiler(5_000);
  try {
    const recursive = {
      type: "function" as const,
      function: {
        name: "tree",
        parameters: { type: "object", properties: { child: { $ref: "#" } } },
      },
    };
    const p = (await resolveTools([recursive], "auto", true, limits, compiler)) as ToolPlan;
    const deep = '{"child":'.repeat(5_000) + "{}" + "}".repeat(5_000);
    assert.doesNotThrow(() => parseToolCalls(`{"name": "tree", "arguments": ${deep}}`, p));
    const shallow = parseToolCalls('{"name": "tree", "arguments": {"child": {}}}', p);
    assert.equal(shallow?.[0]?.name, "tree");
  } finally {
    await compiler.close();
  }
});
