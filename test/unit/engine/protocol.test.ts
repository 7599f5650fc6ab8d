import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PROTOCOL_VERSION,
  ProtocolError,
  decodeParentMessage,
  decodeWorkerMessage,
  encode,
  encodeJob,
} from "../../../src/engine/llama-cpp/protocol.js";
import type { GenerationJob } from "../../../src/engine/index.js";

const job: GenerationJob = {
  id: "r1",
  prompt: { tokens: [1, 2, 3], stopStrings: ["</s>"], stopTokens: [2] },
  sampling: {
    temperature: 0,
    topP: 1,
    topK: 0,
    minP: 0,
    seed: 42,
    presencePenalty: 0,
    frequencyPenalty: 0,
    logitBias: { 5: -Infinity, 6: 1.5 },
  },
  maxTokens: 16,
  stop: ["\n"],
  ignoreEos: false,
  grammar: { kind: "gbnf", text: 'root ::= "a"' },
};

/** What goes through child_process JSON serialization. */
const wire = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

test("a generate message survives the JSON wire, −∞ biases included", () => {
  const decoded = decodeParentMessage(wire(encode({ type: "generate", job: encodeJob(job) })));
  assert.equal(decoded.type, "generate");
  if (decoded.type !== "generate") return;
  assert.deepEqual(decoded.job.prompt, job.prompt);
  assert.equal(decoded.job.sampling.logitBias![5], -Infinity);
  assert.equal(decoded.job.sampling.logitBias![6], 1.5);
  assert.deepEqual(decoded.job.grammar, job.grammar);
});

test("a job that resumes a dead worker's generation carries its tokens and held-back text", () => {
  const resume = { tokens: [9, 10, 11], pending: "</" };
  const decoded = decodeParentMessage(
    wire(encode({ type: "generate", job: encodeJob({ ...job, resume }) })),
  );
  assert.equal(decoded.type, "generate");
  if (decoded.type !== "generate") return;
  assert.deepEqual(decoded.job.resume, resume);
});

test("worker messages decode on the hot path and by schema", () => {
  assert.deepEqual(
    decodeWorkerMessage(
      wire(encode({ type: "token", id: "r1", text: "hé", tokens: 2, ids: [104, 233] })),
    ),
    { type: "token", id: "r1", text: "hé", tokens: 2, ids: [104, 233] },
  );
  assert.deepEqual(
    decodeWorkerMessage(
      wire(encode({ type: "token", id: "r1", text: "a", tokens: 1, ids: [7], pending: "</" })),
    ),
    { type: "token", id: "r1", text: "a", tokens: 1, ids: [7], pending: "</" },
  );
  assert.deepEqual(decodeWorkerMessage(wire(encode({ type: "started", id: "r1" }))), {
    type: "started",
    id: "r1",
  });
  const done = decodeWorkerMessage(
    wire(
      encode({
        type: "done",
        id: "r1",
        finishReason: "length",
        promptTokens: 3,
        completionTokens: 16,
        cachedTokens: 1,
        promptMs: 2,
        generationMs: 30,
      }),
    ),
  );
  assert.equal(done.type, "done");
  const hb = decodeWorkerMessage(
    wire(
      encode({ type: "heartbeat", stats: { busySlots: 1, generatedTokens: 9, rssBytes: 1024 } }),
    ),
  );
  assert.deepEqual(hb, {
    type: "heartbeat",
    stats: { busySlots: 1, generatedTokens: 9, rssBytes: 1024 },
  });
});

test("the decoders reject anything outside the protocol", () => {
  const bad: unknown[] = [
    null,
    "token",
    [],
    { type: "token", id: "x", text: "a", tokens: 1 }, // no version
    { v: PROTOCOL_VERSION + 1, type: "token", id: "x", text: "a", tokens: 1 },
    { v: PROTOCOL_VERSION, type: "nonsense" },
    { v: PROTOCOL_VERSION, type: "token", id: "x", text: 5, tokens: 1, ids: [1] },
    { v: PROTOCOL_VERSION, type: "token", id: "x", text: "a", tokens: 1 }, // no ids
    { v: PROTOCOL_VERSION, type: "token", id: "x", text: "a", tokens: 1, ids: [-1] },
    { v: PROTOCOL_VERSION, type: "token", id: "x", text: "a", tokens: 1, ids: [1], pending: 2 },
    { v: PROTOCOL_VERSION, type: "started" },
    { v: PROTOCOL_VERSION, type: "done", id: "x", finishReason: "exploded" },
    { v: PROTOCOL_VERSION, type: "log", level: "shout", message: "x" },
  ];
  for (const raw of bad)
    assert.throws(() => decodeWorkerMessage(raw), ProtocolError, JSON.stringify(raw));
  assert.throws(
    () =>
      decodeParentMessage(
        wire(encode({ type: "generate", job: encodeJob({ ...job, maxTokens: -1 }) })),
      ),
    /bad generate message at job\.maxTokens/,
  );
  assert.throws(
    () =>
      decodeParentMessage({
        v: PROTOCOL_VERSION,
        type: "prepare",
        id: "a",
        input: { kind: "audio" },
      }),
    ProtocolError,
  );
});
