import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../../src/engine/llama-cpp/runtime.js";
import { runGeneration } from "../../../src/engine/llama-cpp/generation.js";
import type { GenerationJob, TokenLogprob } from "../../../src/engine/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { loadReferenceModel, logSoftmax } from "../../helpers/llama-reference.js";
import { GREEDY } from "../../helpers/sampling.js";

// The worker's log-probabilities against a direct computation: the log-softmax of the logits of
// a plain TypeScript forward pass of stories260K (test/helpers/llama-reference.ts).
const modelPath = storiesModel();
let runtime: LlamaRuntime | undefined;

before(async () => {
  if (!modelPath) return;
  runtime = await LlamaRuntime.load(
    {
      id: "logprobs-test",
      modelName: "stories",
      modelPath,
      slots: 1,
      threads: 1,
      contextSize: 128,
      batchSize: 128,
      gpu: "cpu",
      chatWrapper: "auto",
    },
    () => undefined,
    Date.now(),
  );
});
after(() => runtime?.close());

async function generate(job: Partial<Omit<GenerationJob, "prompt">> & { prompt: number[] }) {
  const rt = runtime!;
  const sequence = rt.acquireSequence(job.prompt)!;
  const logprobs: TokenLogprob[] = [];
  const ids: number[] = [];
  let prompt: { first: string; logprobs: TokenLogprob[] } | undefined;
  try {
    await runGeneration(
      rt,
      sequence,
      {
        id: "x",
        sampling: GREEDY,
        maxTokens: 6,
        stop: [],
        ignoreEos: false,
        ...job,
        prompt: { tokens: job.prompt, stopStrings: [], stopTokens: [] },
      },
      {
        text: (_text, tokens, _pending, entries) => {
          ids.push(...tokens);
          logprobs.push(...(entries ?? []));
        },
        prompt: (p) => (prompt = p),
        done: () => undefined,
      },
      { aborted: () => false, hang: false, crash: false },
    );
  } finally {
    rt.releaseSequence(sequence);
  }
  return { ids, logprobs, prompt };
}

// llama.cpp keeps the KV cache in F16, so its logits differ from the F64 reference by about
// 1e-3; a wrong transform (a temperature, a missing normalization) is off by far more.
const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-2, `${what}: ${actual} vs ${expected}`);

test("greedy logprobs are the log-softmax of the model's logits", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const rt = runtime!;
  const prompt = rt.prepare({ kind: "text", text: "Once upon a time", addSpecial: true }).tokens;
  const { ids, logprobs } = await generate({ prompt, logprobs: 5 });
  assert.equal(logprobs.length, ids.length);
  assert.ok(ids.length > 0);
  const reference = await loadReferenceModel(modelPath);
  const rows = reference.logits([...prompt, ...ids]).slice(prompt.length - 1);
  ids.forEach((id, i) => {
    const expected = logSoftmax(rows[i]!);
    const entry = logprobs[i]!;
    close(entry.logprob, expected[id]!, `token ${i}`);
    // Greedy: the chosen token is the most likely one, and the list is the reference's top 5.
    const order = [...expected.keys()].sort((a, b) => expected[b]! - expected[a]!);
    assert.equal(order[0], id);
    assert.equal(entry.top.length, 5);
    assert.equal(entry.top[0]!.token, rt.tokenPiece(id));
    // Sorted values: a near tie may swap two tokens, never the values in order.
    entry.top.forEach((alt, k) => {
      close(alt.logprob, expected[order[k]!]!, `token ${i} alternative ${k}`);
    });
  });
});

test("prompt logprobs (echo) are the log-softmax at every prompt position", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const rt = runtime!;
  const prompt = rt.prepare({
    kind: "text",
    text: "Once upon a time, there was a cat.",
    addSpecial: true,
  }).tokens;
  const { prompt: echoed } = await generate({ prompt, logprobs: 1, promptLogprobs: true });
  assert.ok(echoed);
  assert.equal(echoed.first, "");
  assert.equal(echoed.logprobs.length, prompt.length - 1);
  const reference = await loadReferenceModel(modelPath);
  const rows = reference.logits(prompt);
  echoed.logprobs.forEach((entry, i) => {
    close(entry.logprob, logSoftmax(rows[i]!)[prompt[i + 1]!]!, `prompt token ${i + 1}`);
  });
});
