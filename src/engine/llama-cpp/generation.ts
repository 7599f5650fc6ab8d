/**
 * Runs one generation job on one sequence (slot): reuses the cached prompt prefix, samples
 * tokens, turns them into UTF-8-safe text, finds stop strings, and reports text and completion.
 * A job that resumes a dead worker's generation evaluates the tokens already sent after its
 * prompt and goes on from there, its held-back text back in the stop matcher.
 */
import {
  LlamaGrammar,
  LlamaGrammarEvaluationState,
  TokenBias,
  type LlamaContextSequence,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import { IncrementalDetokenizer, StopMatcher } from "../text/index.js";
import { EngineJobError } from "../errors.js";
import type { FinishReason, GenerationJob, GrammarSpec, TokenLogprob } from "../types.js";
import type { LlamaRuntime } from "./runtime.js";
import { promptLogprobs, tokenLogprob } from "./logprobs.js";

export interface GenerationOutput {
  /** Text, the ids of the tokens it completes, and the text the stop matcher still holds. */
  text(text: string, ids: number[], pending: string, logprobs?: TokenLogprob[]): void;
  /** The prompt tokens' log-probabilities (job.promptLogprobs), before any text. */
  prompt?(result: { first: string; logprobs: TokenLogprob[] }): void;
  done(result: {
    finishReason: FinishReason;
    promptTokens: number;
    completionTokens: number;
    cachedTokens: number;
    promptMs: number;
    generationMs: number;
  }): void;
}

export interface GenerationControl {
  aborted(): boolean;
  /** Test-only hook: never produce another token (the worker keeps heart-beating). */
  hang: boolean;
  /** Test-only hook: die as if llama.cpp crashed. */
  crash: boolean;
}

const grammarCache = new Map<string, LlamaGrammar>();
const GRAMMAR_CACHE_LIMIT = 64;

async function loadGrammar(runtime: LlamaRuntime, spec: GrammarSpec): Promise<LlamaGrammar> {
  const key = spec.kind === "json" ? "json" : `gbnf:${spec.text}`;
  const cached = grammarCache.get(key);
  if (cached) return cached;
  let grammar: LlamaGrammar;
  try {
    grammar =
      spec.kind === "json"
        ? await runtime.llama.getGrammarFor("json")
        : new LlamaGrammar(runtime.llama, { grammar: spec.text });
  } catch (err) {
    // llama.cpp refuses grammars over its repetition bounds (a schema's minLength: 1000 is
    // enough): the request's response format is at fault, not the engine.
    throw new EngineJobError(
      "invalid_grammar",
      `The response format cannot be used: ${(err as Error).message}`,
    );
  }
  if (grammarCache.size >= GRAMMAR_CACHE_LIMIT) {
    grammarCache.delete(grammarCache.keys().next().value as string);
  }
  grammarCache.set(key, grammar);
  return grammar;
}

function tokenBiasFor(runtime: LlamaRuntime, job: GenerationJob): TokenBias | undefined {
  const entries = Object.entries(job.sampling.logitBias ?? {});
  if (entries.length === 0 && !job.ignoreEos) return undefined;
  const bias = new TokenBias(runtime.model.tokenizer);
  for (const [token, value] of entries) {
    bias.set(Number(token) as Token, value === -Infinity ? "never" : { logit: value });
  }
  if (job.ignoreEos) {
    // TokenBias.set() skips end-of-generation tokens on purpose; ignore_eos needs exactly that
    // bias, as llama.cpp's own ignore_eos does (logit −∞ on EOS/EOT). node-llama-cpp is pinned
    // at 3.21.1, whose TokenBias keeps its biases in the `_biases` map that the sampler reads.
    const biases = (bias as unknown as { _biases: Map<number, number> })._biases;
    for (const token of [runtime.model.tokens.eos, runtime.model.tokens.eot]) {
      if (token !== null) biases.set(token, -Infinity);
    }
  }
  return bias;
}

/** Generates until a stop condition; the sequence stays owned by the caller. */
export async function runGeneration(
  runtime: LlamaRuntime,
  sequence: LlamaContextSequence,
  job: GenerationJob,
  output: GenerationOutput,
  control: GenerationControl,
): Promise<void> {
  const started = performance.now();
  const resumed = job.resume?.tokens ?? [];
  const prompt = resumed.length > 0 ? [...job.prompt.tokens, ...resumed] : job.prompt.tokens;
  // Reuse the longest cached prefix; at least one token must be evaluated to get logits.
  let shared = sequence.compareContextTokens(prompt as Token[]).firstDifferentIndex;
  if (shared >= prompt.length) shared = prompt.length - 1;
  // The prompt's log-probabilities need the logits of every prompt position: no cache reuse.
  if (job.promptLogprobs) shared = 0;
  if (shared < sequence.nextTokenIndex) {
    await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
  }
  const options: SequenceEvaluateOptions = {
    temperature: job.sampling.temperature,
    topK: job.sampling.topK,
    topP: job.sampling.topP,
    minP: job.sampling.minP,
    seed: job.sampling.seed,
    yieldEogToken: true,
    tokenBias: tokenBiasFor(runtime, job),
  };
  // Tokens already sent count toward max_tokens and the repeat penalties, as in one run.
  const generated = [...resumed] as Token[];
  if (job.sampling.presencePenalty !== 0 || job.sampling.frequencyPenalty !== 0) {
    options.repeatPenalty = {
      punishTokens: () => generated,
      penalty: 1,
      presencePenalty: job.sampling.presencePenalty,
      frequencyPenalty: job.sampling.frequencyPenalty,
    };
  }
  if (job.grammar) {
    options.grammarEvaluationState = new LlamaGrammarEvaluationState({
      model: runtime.model,
      grammar: await loadGrammar(runtime, job.grammar),
    });
  }

  const detokenizer = new IncrementalDetokenizer((t) => runtime.detokenize(t), prompt);
  const stopper = new StopMatcher([...job.stop, ...job.prompt.stopStrings]);
  if (job.resume?.pending) stopper.push(job.resume.pending);
  const stopTokens = new Set(job.prompt.stopTokens);
  let finishReason: FinishReason = "length";
  let promptMs = 0;
  /** Tokens whose text has not gone out in a text event yet. */
  let held: number[] = [];
  let stopped = false;

  let input = prompt.slice(shared) as Token[];
  const top = job.logprobs ?? 0;
  if (job.promptLogprobs) {
    output.prompt?.(await promptLogprobs(runtime, sequence, prompt, top));
    input = input.slice(-1);
  }
  if (generated.length >= job.maxTokens) {
    // max_tokens 0 (echo: the prompt scored, nothing generated).
    output.done({
      finishReason: "length",
      promptTokens: job.prompt.tokens.length,
      completionTokens: generated.length,
      cachedTokens: Math.min(shared, job.prompt.tokens.length),
      promptMs: performance.now() - started,
      generationMs: 0,
    });
    return;
  }
  /** Log-probabilities of the tokens in `held`, when the job asks for them. */
  let heldLogprobs: TokenLogprob[] = [];
  const steps =
    job.logprobs === undefined
      ? tokensOnly(sequence.evaluate(input, options))
      : sequence.evaluateWithMetadata(input, { probabilities: true }, options);
  for await (const step of steps) {
    const token = step.token;
    if (generated.length === resumed.length && held.length === 0) {
      promptMs = performance.now() - started;
    }
    if (control.aborted()) {
      finishReason = "abort";
      break;
    }
    if (control.crash) process.kill(process.pid, "SIGKILL");
    const endOfGeneration = runtime.model.isEogToken(token) || stopTokens.has(Number(token));
    if (endOfGeneration && !job.ignoreEos) {
      finishReason = "stop";
      break;
    }
    generated.push(token);
    held.push(token);
    const probabilities = (step as { probabilities?: ReadonlyMap<Token, number> }).probabilities;
    if (probabilities) heldLogprobs.push(tokenLogprob(runtime, token, probabilities, top));
    const result = stopper.push(detokenizer.push(token));
    if (result.text) {
      // Text comes out of the detokenizer only for all tokens pushed so far, so `held` is
      // exactly what this text completes; the stop matcher may keep its end (`pending`).
      output.text(
        result.text,
        held,
        stopper.held,
        job.logprobs === undefined ? undefined : heldLogprobs,
      );
      held = [];
      heldLogprobs = [];
    }
    if (result.stopped) {
      finishReason = "stop";
      stopped = true;
      break;
    }
    if (generated.length >= job.maxTokens) break;
    if (control.hang) await new Promise<never>(() => undefined);
  }
  if (!stopped && finishReason !== "abort") {
    const rest = stopper.push(detokenizer.flush());
    const tail = rest.stopped ? rest.text : rest.text + stopper.flush();
    if (rest.stopped) finishReason = "stop";
    if (tail || held.length > 0) {
      output.text(tail, held, "", job.logprobs === undefined ? undefined : heldLogprobs);
    }
  }
  output.done({
    finishReason,
    promptTokens: job.prompt.tokens.length,
    completionTokens: generated.length,
    cachedTokens: Math.min(shared, job.prompt.tokens.length),
    promptMs,
    generationMs: performance.now() - started - promptMs,
  });
}

async function* tokensOnly(tokens: AsyncIterable<Token>): AsyncGenerator<{ token: Token }> {
  for await (const token of tokens) yield { token };
}
