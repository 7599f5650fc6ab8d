import { test } from "node:test";
import assert from "node:assert/strict";
import { Ticket, endOfSentStream } from "../../../src/scheduler/index.js";
import type { GenerationJob } from "../../../src/engine/index.js";

const job: GenerationJob = {
  id: "r1",
  prompt: { tokens: [1, 5, 6], stopStrings: [], stopTokens: [] },
  sampling: { temperature: 0, topP: 1, topK: 0, minP: 0, presencePenalty: 0, frequencyPenalty: 0 },
  maxTokens: 4,
  stop: [],
  ignoreEos: false,
};

test("a ticket keeps the token ids and the held-back text its stream passed on", () => {
  const t = new Ticket(job, 0, 0);
  t.track({ type: "text", text: "Once", tokens: 1, ids: [40] });
  t.track({ type: "text", text: " upon", tokens: 2, ids: [41, 42], pending: " a" });
  assert.deepEqual(t.progress, { tokens: [40, 41, 42], pending: " a" });
  assert.equal(t.resumable, true);
  t.track({ type: "text", text: " a time", tokens: 1, ids: [43] });
  assert.equal(t.progress.pending, "", "the held text went out with this event");
});

test("a text event without its token ids makes the stream impossible to continue", () => {
  const t = new Ticket(job, 0, 0);
  t.track({ type: "text", text: "Once", tokens: 1 });
  assert.equal(t.resumable, false);
  const u = new Ticket(job, 0, 0);
  u.track({ type: "text", text: "Once", tokens: 2, ids: [40] });
  assert.equal(u.resumable, false, "ids must cover every token of the event");
});

test("restart goes back to the original job and forgets what was passed on", () => {
  const t = new Ticket(job, 0, 0);
  t.track({ type: "text", text: "Once", tokens: 1 });
  t.job = { ...job, resume: { tokens: [40], pending: "" } };
  t.restart();
  assert.equal(t.job, job);
  assert.deepEqual(t.progress, { tokens: [], pending: "" });
  assert.equal(t.resumable, true);
});

test("a stream that sent all its tokens ends with its held text and the whole counts", () => {
  assert.deepEqual(endOfSentStream(job, { tokens: [40, 41, 42, 43], pending: "</" }), [
    { type: "text", text: "</", tokens: 0, ids: [] },
    {
      type: "done",
      finishReason: "length",
      promptTokens: 3,
      completionTokens: 4,
      timings: { cachedTokens: 0, promptMs: 0, generationMs: 0 },
    },
  ]);
});
