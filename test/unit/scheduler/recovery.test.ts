import { test } from "node:test";
import assert from "node:assert/strict";
import { continuation, lossVerdict } from "../../../src/scheduler/index.js";
import type { GenerationJob } from "../../../src/engine/index.js";
import { GREEDY } from "../../helpers/sampling.js";

const lost = (over: Partial<Parameters<typeof lossVerdict>[0]> = {}) => ({
  cancelled: false,
  committed: false,
  losses: 1,
  resumable: true,
  ...over,
});

test("a request lost before its first byte is re-queued once", () => {
  assert.equal(lossVerdict(lost(), false), "requeue");
});

test("the second worker death refuses the request as a possible query of death", () => {
  assert.equal(lossVerdict(lost({ losses: 2 }), false), "refuse");
  assert.equal(lossVerdict(lost({ losses: 2, committed: true }), false), "refuse");
});

test("deaths while the request was not decoding do not count toward refusing it", () => {
  // The host counts only deaths while decoding: a request lost twice while queued in a worker
  // (or sent to one already killed from outside) has losses 0 and moves on.
  assert.equal(lossVerdict(lost({ losses: 0 }), false), "requeue");
  assert.equal(lossVerdict(lost({ losses: 0, committed: true }), false), "resume");
});

test("a stream that already began resumes; without token ids it ends with engine_failure", () => {
  assert.equal(lossVerdict(lost({ committed: true }), false), "resume");
  assert.equal(lossVerdict(lost({ committed: true, resumable: false }), false), "fail_stream");
});

test("a cancelled request is dropped; a stopping server does not re-queue", () => {
  assert.equal(lossVerdict(lost({ cancelled: true }), false), "drop");
  assert.equal(lossVerdict(lost(), true), "shutting_down");
});

const job: GenerationJob = {
  id: "r1",
  prompt: { tokens: [1, 5, 6], stopStrings: [], stopTokens: [] },
  sampling: GREEDY,
  maxTokens: 8,
  stop: ["</s>"],
  ignoreEos: false,
};

test("the continuation carries the sent tokens and held text; max_tokens still counts them", () => {
  const next = continuation(job, { tokens: [40, 41, 42], pending: "</" });
  assert.ok(next);
  assert.deepEqual(next.resume, { tokens: [40, 41, 42], pending: "</" });
  assert.deepEqual(next.prompt, job.prompt, "the prompt and its usage count are the original's");
  assert.equal(next.maxTokens, 8);
  assert.equal(next.id, job.id);
  assert.equal(job.resume, undefined, "the original job is left as it was");
});

test("a stream that sent all its tokens has nothing to continue", () => {
  assert.equal(continuation(job, { tokens: [1, 2, 3, 4, 5, 6, 7, 8], pending: "" }), undefined);
});
