/**
 * The outcome of a non-streamed bench request, from the body of a 200 answer: the whole latency
 * is TTFT and E2E, output tokens come from usage, and a body that cannot count as a completed
 * request fails with a kind of its own.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { plainOutcome } from "../../../src/bench/plain-request.js";

const req = { prompt: "hello", promptLen: 7, outputLen: 4, cacheRole: "unique" as const };

test("a completed answer: latency as TTFT and E2E, no ITL, token counts from usage", () => {
  const body = {
    choices: [{ text: " a b c", index: 0, finish_reason: "length" }],
    usage: {
      prompt_tokens: 6,
      completion_tokens: 4,
      prompt_tokens_details: { cached_tokens: 3 },
    },
  };
  const o = plainOutcome(JSON.stringify(body), 42.5, req);
  assert.equal(o.ok, true, o.errorMessage);
  assert.equal(o.ttftMs, 42.5);
  assert.equal(o.e2eMs, 42.5);
  assert.deepEqual(o.itlMs, []);
  assert.equal(o.outputTokens, 4);
  assert.equal(o.promptTokens, 6, "from usage, not the dataset's promptLen");
  assert.equal(o.cachedTokens, 3);
  assert.equal(o.cacheRole, "unique");
});

test("without usage.prompt_tokens the dataset's prompt length counts", () => {
  const o = plainOutcome(
    JSON.stringify({ choices: [{ text: "x" }], usage: { completion_tokens: 1 } }),
    5,
    req,
  );
  assert.equal(o.ok, true);
  assert.equal(o.promptTokens, 7);
  assert.equal(o.cachedTokens, undefined);
});

test("bodies that are not a completed request fail by kind", () => {
  const cases: [string, string][] = [
    ["not json {", "bad_chunk"],
    [
      JSON.stringify({ error: { message: "boom", code: "engine_failure" } }),
      "body_error:engine_failure",
    ],
    [JSON.stringify({ error: { message: "boom" } }), "body_error"],
    [JSON.stringify({ choices: [], usage: { completion_tokens: 0 } }), "no_tokens"],
    [JSON.stringify({ choices: [{ text: "x" }] }), "no_usage"],
  ];
  for (const [text, kind] of cases) {
    const o = plainOutcome(text, 10, req);
    assert.equal(o.ok, false, text);
    assert.equal(o.errorKind, kind, text);
    assert.equal(o.outputTokens, 0);
  }
});
