import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AnswerReader,
  SseLines,
  backendCall,
  errorOfBody,
  estimateTokens,
} from "../../../src/engine/remote/index.js";
import type { GenerationJob } from "../../../src/engine/index.js";

const sampling = {
  temperature: 0,
  topP: 1,
  topK: 40,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
};

function job(over: Partial<GenerationJob> = {}): GenerationJob {
  return {
    id: "r1",
    prompt: {
      tokens: [],
      stopStrings: [],
      stopTokens: [],
      input: { kind: "chat", messages: [{ role: "user", content: "hi" }] },
      estimatedTokens: 5,
    },
    sampling,
    maxTokens: 16,
    stop: ["\n\n"],
    ignoreEos: false,
    ...over,
  };
}

test("a chat job becomes a streamed /chat/completions with the usage chunk asked for", () => {
  const call = backendCall(job(), "meta/llama");
  assert.equal(call.path, "/chat/completions");
  assert.deepEqual(call.body.messages, [{ role: "user", content: "hi" }]);
  assert.equal(call.body.model, "meta/llama");
  assert.equal(call.body.stream, true);
  assert.deepEqual(call.body.stream_options, { include_usage: true });
  assert.equal(call.body.max_tokens, 16);
  assert.deepEqual(call.body.stop, ["\n\n"]);
});

test("text and token prompts go to /completions; what a backend cannot do is refused first", () => {
  const text = backendCall(
    job({
      prompt: {
        tokens: [1, 2],
        stopStrings: [],
        stopTokens: [],
        input: { kind: "text", text: "Once", addSpecial: true },
      },
    }),
    "m",
  );
  assert.equal(text.path, "/completions");
  assert.equal(text.body.prompt, "Once");
  const ids = backendCall(
    job({ prompt: { tokens: [5, 6], stopStrings: [], stopTokens: [] } }),
    "m",
  );
  assert.deepEqual(ids.body.prompt, [5, 6]);
  for (const over of [
    { grammar: { kind: "gbnf" as const, text: 'root ::= "a"' } },
    { logprobs: 2 },
    { resume: { tokens: [1], pending: "" } },
  ]) {
    assert.throws(() => backendCall(job(over), "m"), { code: "unsupported_parameter" });
  }
  assert.deepEqual(backendCall(job({ grammar: { kind: "json" } }), "m").body.response_format, {
    type: "json_object",
  });
});

test("server-sent events split across chunks give text events, then done with the backend's usage", () => {
  const lines = new SseLines();
  const reader = new AnswerReader();
  const stream =
    'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: {"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n' +
    'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}\n\ndata: [DONE]\n\n';
  const bytes = Buffer.from(stream);
  const events = [];
  for (let i = 0; i < bytes.length; i += 13) {
    for (const payload of lines.push(bytes.subarray(i, i + 13)))
      events.push(...reader.read(payload));
  }
  assert.deepEqual(
    events.map((e) => (e.type === "text" ? e.text : e.type)),
    ["Hel", "lo"],
  );
  assert.equal(reader.done, true);
  const done = reader.end(5, 10);
  assert.equal(done?.type, "done");
  if (done?.type === "done") {
    assert.equal(done.finishReason, "stop");
    assert.equal(done.promptTokens, 7);
    assert.equal(done.completionTokens, 2);
    assert.equal(done.timings.cachedTokens, 4);
  }
});

test("garbage and error bodies become catalog errors, never the backend's text for a 5xx", () => {
  const reader = new AnswerReader();
  assert.throws(() => reader.read("not json"), { code: "backend_error" });
  assert.throws(
    () => reader.read('{"error":{"message":"boom at /srv/x.py"}}'),
    (err: Error) => {
      assert.equal((err as { code?: string }).code, "backend_error");
      assert.doesNotMatch(err.message, /srv/);
      return true;
    },
  );
  assert.equal(
    errorOfBody({ error: { message: "This model's maximum context length is 2048 tokens" } }, 400)
      .code,
    "context_length_exceeded",
  );
  assert.equal(errorOfBody({ error: { message: "bad temperature" } }, 400).code, "invalid_request");
  assert.equal(errorOfBody(undefined, 401).code, "backend_error");
  assert.equal(errorOfBody("<html>", 500).code, "backend_error");
});

test("a prompt's length is estimated at about four characters a token", () => {
  assert.equal(estimateTokens({ kind: "text", text: "x".repeat(40), addSpecial: true }), 10);
  assert.equal(estimateTokens({ kind: "tokens", tokens: [1, 2, 3] }), 3);
  assert.equal(
    estimateTokens({ kind: "chat", messages: [{ role: "user", content: "x".repeat(8) }] }),
    6,
  );
});
