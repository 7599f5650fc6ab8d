/**
 * The engine-facing half of chat and completions: tokenize the prompt, check it against the
 * context, build the job and start it; and, for a non-streaming request, collect its output.
 */
import { BulwarkError } from "../../errors/index.js";
import type {
  FinishReason,
  GenerationJob,
  GenerationStream,
  PromptInput,
  ServedModel,
  TokenLogprob,
} from "../../engine/index.js";
import type { GenerationOptions } from "./sampling-params.js";
import type { ResolvedFormat } from "./response-format.js";
import type { GenerationGate } from "../types.js";
import { grantEstimatedMaxTokens, grantMaxTokens, type MaxTokensCaps } from "./max-tokens.js";

export interface StartRequest {
  requestId: string;
  model: ServedModel;
  input: PromptInput;
  /** The request field holding the prompt, for error messages ("messages" or "prompt"). */
  inputParam: string;
  options: GenerationOptions;
  format: ResolvedFormat;
  /** The configured and the memory-pressure caps on max_tokens (see max-tokens.ts). */
  maxTokensCaps: MaxTokensCaps;
  /** Alternatives per token's log-probability entry; undefined: no log-probabilities. */
  logprobs?: number;
  /** Also the prompt tokens' log-probabilities (completions echo). */
  promptLogprobs?: boolean;
  testHook?: GenerationJob["testHook"];
  /** Reserves prompt + max_tokens against the caller's token limits (rate limits, budget). */
  reserveTokens?: GenerationGate["reserveTokens"];
  /** The admission priority (a batch line's is low); default 0, interactive. */
  priority?: number;
}

export interface StartedGeneration {
  /** One stream per choice (n), in choice order. */
  choices: GenerationStream[];
  promptTokens: number;
  /** Settles the token reservation; respondGeneration calls it once the generation ends. */
  settle(usedTokens: number): void;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** One choice, read whole. */
export interface CollectedChoice {
  text: string;
  finishReason: FinishReason;
  completionTokens: number;
  cachedTokens: number;
  /** With log-probabilities: one entry per generated token. */
  logprobs?: TokenLogprob[];
  /** With the prompt's log-probabilities: the first prompt token and the entries after it. */
  prompt?: PromptLogprobs;
}

export interface PromptLogprobs {
  first: string;
  logprobs: TokenLogprob[];
}

export interface CollectedGeneration {
  choices: CollectedChoice[];
  usage: Usage;
}

export function makeUsage(promptTokens: number, completionTokens: number, cached: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

/** The seed of choice `index`: a request's seed gives each choice its own, reproducibly. */
function choiceSeed(seed: number | undefined, index: number): number | undefined {
  return seed === undefined ? undefined : (seed + index) >>> 0;
}

/**
 * Tokenizes, checks the context length, and starts the generation on the model's queue: one
 * job per choice, all with the same prompt. The prompt is counted once and every choice's
 * max_tokens is reserved.
 */
export async function startGeneration(req: StartRequest): Promise<StartedGeneration> {
  const prompt = await req.model.prepare(req.input);
  const info = req.model.info();
  const context = info?.contextSize ?? Number.MAX_SAFE_INTEGER;
  // A remote backend's prompt is counted by the backend: here it is an estimate, which neither
  // refuses the request nor caps an explicit max_tokens (the backend does both exactly).
  const estimated = prompt.estimatedTokens !== undefined;
  const promptTokens = prompt.estimatedTokens ?? prompt.tokens.length;
  if (promptTokens === 0) {
    throw new BulwarkError("invalid_request", "The prompt is empty.", { param: req.inputParam });
  }
  if (promptTokens >= context && !estimated) {
    throw new BulwarkError(
      "context_length_exceeded",
      `This model's context is ${context} tokens; the prompt has ${promptTokens}.`,
      { param: req.inputParam },
    );
  }
  const maxTokens = estimated
    ? grantEstimatedMaxTokens(req.options.maxTokens, req.maxTokensCaps, context, promptTokens)
    : grantMaxTokens(req.options.maxTokens, req.maxTokensCaps, context, promptTokens);
  const vocabulary = info?.vocabularySize ?? 0;
  for (const token of Object.keys(req.options.sampling.logitBias ?? {})) {
    if (vocabulary > 0 && Number(token) >= vocabulary) {
      throw new BulwarkError("invalid_request", `Token ${token} is not in the vocabulary.`, {
        param: "logit_bias",
      });
    }
  }
  const n = req.options.n;
  const jobs: GenerationJob[] = Array.from({ length: n }, (_, i) => ({
    id: i === 0 ? req.requestId : `${req.requestId}.${i}`,
    prompt,
    sampling: { ...req.options.sampling, seed: choiceSeed(req.options.sampling.seed, i) },
    maxTokens,
    stop: [...req.options.stop, ...req.format.stop],
    ignoreEos: req.options.ignoreEos,
    grammar: req.format.grammar,
    ...(req.logprobs !== undefined ? { logprobs: req.logprobs } : {}),
    ...(req.promptLogprobs ? { promptLogprobs: true } : {}),
    testHook: req.testHook,
  }));
  const reservation = await req.reserveTokens?.(promptTokens + n * maxTokens);
  const settle = (used: number) => reservation?.settle(used);
  const choices: GenerationStream[] = [];
  try {
    for (const job of jobs) choices.push(req.model.generate(job, { priority: req.priority }));
    return { choices, promptTokens, settle };
  } catch (err) {
    for (const stream of choices) stream.cancel();
    settle(0);
    throw err;
  }
}

/** Reads one choice whole; a restart on another worker discards what was read. */
async function collectChoice(
  stream: GenerationStream,
  onTokens?: (tokens: number) => void,
): Promise<CollectedChoice & { promptTokens: number }> {
  let parts: string[] = [];
  let logprobs: TokenLogprob[] | undefined;
  let prompt: PromptLogprobs | undefined;
  for await (const event of stream) {
    if (event.type === "restart") {
      parts = [];
      logprobs = undefined;
      prompt = undefined;
    } else if (event.type === "prompt") {
      prompt = { first: event.first, logprobs: event.logprobs };
    } else if (event.type === "text") {
      parts.push(event.text);
      if (event.logprobs) (logprobs ??= []).push(...event.logprobs);
      onTokens?.(event.tokens);
    } else {
      return {
        text: parts.join(""),
        finishReason: event.finishReason,
        completionTokens: event.completionTokens,
        cachedTokens: event.timings.cachedTokens,
        promptTokens: event.promptTokens,
        ...(logprobs ? { logprobs } : {}),
        ...(prompt ? { prompt } : {}),
      };
    }
  }
  throw new BulwarkError("internal_error", "The generation ended without a result.");
}

/** Reads every choice of a generation whole; usage counts the prompt once and all choices. */
export async function collectGeneration(
  started: StartedGeneration,
  onTokens?: (tokens: number) => void,
): Promise<CollectedGeneration> {
  const results = await Promise.all(started.choices.map((s) => collectChoice(s, onTokens)));
  const completion = results.reduce((sum, r) => sum + r.completionTokens, 0);
  const first = results[0]!;
  return {
    choices: results.map(({ promptTokens: _, ...choice }) => choice),
    usage: makeUsage(first.promptTokens, completion, first.cachedTokens),
  };
}
