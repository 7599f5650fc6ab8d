import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";

// The max_tokens rule of docs/api.md: above limits.maxTokens is a 400; the ladder's cap under
// memory pressure lowers it silently; none given means the smallest cap. The guard is a stub
// whose cap the test sets, so the rule is seen without driving memory.
let gateway: TestGateway;
const pressure: { cap: number | undefined } = { cap: undefined };

before(async () => {
  gateway = await buildTestGateway(
    {
      models: [{ name: "fake", path: "/models/fake.gguf" }],
      engine: { contextSize: 64 },
      limits: { maxTokens: 12 },
    },
    {
      deps: {
        guard: {
          shedding: () => undefined,
          maxTokensCap: (model) => (model === "fake" ? pressure.cap : undefined),
          health: () => ({}),
        },
      },
    },
  );
});
after(() => gateway.close());

const complete = (extra: Record<string, unknown>) =>
  gateway.request("POST", "/v1/completions", { model: "fake", prompt: "x", ...extra });
const chat = (extra: Record<string, unknown>) =>
  gateway.request("POST", "/v1/chat/completions", {
    model: "fake",
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });

function assertRefused(res: { status: number; json: any }) {
  assert.equal(res.status, 400, JSON.stringify(res.json));
  assert.equal(res.json.error.code, "input_too_large");
  assert.equal(res.json.error.param, "max_tokens");
  assert.match(res.json.error.message, /max_tokens may be at most 12/);
}

test("max_tokens above limits.maxTokens is 400 input_too_large naming max_tokens", async () => {
  assertRefused(await complete({ max_tokens: 13 }));
  assertRefused(await chat({ max_tokens: 13 }));
  assertRefused(await chat({ max_completion_tokens: 13 }));
  // Past the context as well: the configured limit is the answer, checked before any work.
  assertRefused(await complete({ max_tokens: 100 }));
  const atLimit = await complete({ max_tokens: 12 });
  assert.equal(atLimit.status, 200, atLimit.text);
  assert.equal(atLimit.json.usage.completion_tokens, 12);
});

test("without max_tokens a generation runs to the smallest cap", async () => {
  const limited = await complete({});
  assert.equal(limited.status, 200, limited.text);
  assert.equal(limited.json.usage.completion_tokens, 12, "limits.maxTokens");
  const open = await buildTestGateway({
    models: [{ name: "fake", path: "/models/fake.gguf" }],
    engine: { contextSize: 16 },
  });
  try {
    const res = await open.request("POST", "/v1/completions", { model: "fake", prompt: "x" });
    assert.equal(res.status, 200, res.text);
    const { prompt_tokens, completion_tokens } = res.json.usage;
    assert.equal(prompt_tokens + completion_tokens, 16, "the rest of the context");
  } finally {
    await open.close();
  }
});

test("the ladder's cap under memory pressure lowers max_tokens silently, and lifts", async () => {
  pressure.cap = 5;
  try {
    const capped = await complete({ max_tokens: 10 });
    assert.equal(capped.status, 200, capped.text);
    assert.equal(capped.json.usage.completion_tokens, 5);
    assert.equal(capped.json.choices[0].finish_reason, "length");
    const streamed = await chat({ max_tokens: 10, stream: true });
    assert.equal(streamed.status, 200);
    assert.match(streamed.text, /"finish_reason":"length"/);
    assert.equal((await complete({})).json.usage.completion_tokens, 5, "none given: the cap");
    assert.equal((await complete({ max_tokens: 3 })).json.usage.completion_tokens, 3);
    // The configured limit still refuses: the cap does not turn a client error into a clamp.
    assertRefused(await complete({ max_tokens: 13 }));
  } finally {
    pressure.cap = undefined;
  }
  assert.equal((await complete({ max_tokens: 10 })).json.usage.completion_tokens, 10);
});
