/**
 * The validation worker: a child process that loads the model exactly as an engine worker does
 * (LlamaRuntime.load) and runs the checks inside it, so that its peak RSS is the model's own.
 * Started by validateModel with an IPC channel; one request, then it exits.
 */
import { resourceUsage } from "node:process";
import type { Token } from "node-llama-cpp";
import { LlamaRuntime } from "../../engine/llama-cpp/runtime.js";
import { runGeneration } from "../../engine/llama-cpp/generation.js";
import type { GenerationJob } from "../../engine/index.js";
import type { WorkerCheckResult, WorkerMessage, WorkerRequest } from "./protocol.js";
import { GENERATION_PROMPT, PERPLEXITY_TEXT, ROUND_TRIP_TEXT } from "./texts.js";

const send = (m: WorkerMessage) => process.send?.(m);

function job(
  tokens: number[],
  maxTokens: number,
  seed: number,
  temperature: number,
): GenerationJob {
  return {
    id: `validate-${seed}-${temperature}`,
    prompt: { tokens, stopStrings: [], stopTokens: [] },
    sampling: {
      temperature,
      topP: 0.95,
      topK: 40,
      minP: 0.05,
      seed,
      presencePenalty: 0,
      frequencyPenalty: 0,
    },
    maxTokens,
    stop: [],
    ignoreEos: true,
  };
}

async function generate(rt: LlamaRuntime, j: GenerationJob) {
  const sequence = rt.acquireSequence(j.prompt.tokens)!;
  let text = "";
  let done:
    | { promptTokens: number; completionTokens: number; promptMs: number; generationMs: number }
    | undefined;
  try {
    // Start from an empty cache so that every run evaluates the whole prompt.
    await sequence.clearHistory();
    await runGeneration(
      rt,
      sequence,
      j,
      { text: (t) => (text += t), done: (d) => (done = d) },
      { aborted: () => false, hang: false, crash: false },
    );
  } finally {
    rt.releaseSequence(sequence);
  }
  return { text, ...done! };
}

function tokenizerCheck(rt: LlamaRuntime): WorkerCheckResult {
  const tokens = rt.prepare({ kind: "text", text: ROUND_TRIP_TEXT, addSpecial: false }).tokens;
  const back = rt.decode(tokens);
  const ok = back === ROUND_TRIP_TEXT;
  return {
    name: "tokenizer",
    ok,
    detail: ok
      ? `${ROUND_TRIP_TEXT.length} characters → ${tokens.length} tokens → the same text`
      : `text changed in a round trip: ${JSON.stringify(back.slice(0, 80))}`,
    values: { characters: ROUND_TRIP_TEXT.length, tokens: tokens.length },
  };
}

async function determinismCheck(rt: LlamaRuntime, n: number): Promise<WorkerCheckResult> {
  const prompt = rt.prepare({ kind: "text", text: GENERATION_PROMPT, addSpecial: true }).tokens;
  const a = await generate(rt, job(prompt, n, 1234, 0.8));
  const b = await generate(rt, job(prompt, n, 1234, 0.8));
  const ok =
    a.text === b.text && a.completionTokens === b.completionTokens && a.completionTokens > 0;
  return {
    name: "determinism",
    ok,
    detail: ok
      ? `seed 1234 gave the same ${a.completionTokens} tokens twice`
      : a.completionTokens === 0
        ? "the model generated no tokens"
        : `seed 1234 gave two different texts: ${JSON.stringify(a.text.slice(0, 40))} and ${JSON.stringify(b.text.slice(0, 40))}`,
    values: { tokens: a.completionTokens, sample: a.text.slice(0, 200) },
  };
}

/** Sampling options under which node-llama-cpp's probabilities are the plain softmax. */
const FULL_SOFTMAX = { temperature: 1, topK: 0, topP: 1, minP: 0 };

/** exp of the mean negative log-likelihood of each token of the text given the ones before. */
async function perplexityCheck(rt: LlamaRuntime): Promise<WorkerCheckResult> {
  const tokens = rt.prepare({ kind: "text", text: PERPLEXITY_TEXT, addSpecial: true }).tokens;
  const n = Math.min(tokens.length, rt.context.contextSize - 1);
  const sequence = rt.acquireSequence([])!;
  let nll = 0;
  let scored = 0;
  try {
    await sequence.clearHistory();
    // Small chunks: each position's probabilities are a Map over the whole vocabulary, and
    // holding them for a whole text would cost the worker hundreds of MB on a 32k vocabulary.
    const CHUNK = 8;
    for (let start = 0; start < n; start += CHUNK) {
      const end = Math.min(n, start + CHUNK);
      const input = tokens
        .slice(start, end)
        .map(
          (t, k) =>
            (start + k < n - 1
              ? [t as Token, { generateNext: { probabilities: true, options: FULL_SOFTMAX } }]
              : (t as Token)) as Parameters<typeof sequence.controlledEvaluate>[0][number],
        );
      const out = await sequence.controlledEvaluate(input);
      for (let k = 0; k < end - start && start + k < n - 1; k++) {
        const p = out[k]?.next.probabilities?.get(tokens[start + k + 1] as Token) ?? 0;
        nll += -Math.log(Math.max(p, 1e-10));
        scored++;
      }
    }
  } finally {
    rt.releaseSequence(sequence);
  }
  const ppl = Math.exp(nll / Math.max(1, scored));
  const ok = Number.isFinite(ppl) && scored > 0;
  return {
    name: "perplexity",
    ok,
    detail: `${ppl.toFixed(3)} over ${scored} tokens of the built-in text`,
    values: { perplexity: Number(ppl.toFixed(4)), tokens: scored },
  };
}

async function speedCheck(rt: LlamaRuntime, n: number): Promise<WorkerCheckResult> {
  const prompt = rt.prepare({ kind: "text", text: PERPLEXITY_TEXT, addSpecial: true }).tokens;
  const limit = Math.max(1, rt.context.contextSize - n - 1);
  const r = await generate(rt, job(prompt.slice(0, limit), n, 7, 0));
  const promptRate = r.promptTokens / (r.promptMs / 1000);
  const genRate = (r.completionTokens - 1) / (r.generationMs / 1000);
  const ok = r.completionTokens === n && Number.isFinite(genRate);
  return {
    name: "speed",
    ok,
    detail: `prompt ${promptRate.toFixed(1)} tokens/s (${r.promptTokens} tokens), generation ${genRate.toFixed(1)} tokens/s (${r.completionTokens} tokens)`,
    values: {
      promptTokensPerSecond: Number(promptRate.toFixed(1)),
      generationTokensPerSecond: Number(genRate.toFixed(1)),
      promptTokens: r.promptTokens,
      generatedTokens: r.completionTokens,
    },
  };
}

process.once("message", (request: WorkerRequest) => {
  void (async () => {
    const started = Date.now();
    let stage = "load";
    try {
      send({ type: "progress", step: "loading the model" });
      const rt = await LlamaRuntime.load(request.spec, () => undefined, started);
      send({ type: "loaded", loadMs: Date.now() - started, info: { ...rt.info } });
      // The memory check compares the peak of serving work (load, generation) with the
      // estimate; perplexity's per-token probability tables are the validator's own cost.
      let servingPeak: number | undefined;
      for (const name of request.checks) {
        stage = name;
        if (name === "perplexity") servingPeak = resourceUsage().maxRSS * 1024;
        send({ type: "progress", step: name });
        const result =
          name === "tokenizer"
            ? tokenizerCheck(rt)
            : name === "determinism"
              ? await determinismCheck(rt, request.generateTokens)
              : name === "perplexity"
                ? await perplexityCheck(rt)
                : await speedCheck(rt, request.generateTokens);
        send({ type: "check", result });
      }
      await rt.close();
      send({ type: "finished", peakRssBytes: servingPeak ?? resourceUsage().maxRSS * 1024 });
    } catch (err) {
      send({ type: "failed", stage, message: err instanceof Error ? err.message : String(err) });
    }
    process.disconnect?.();
  })();
});
