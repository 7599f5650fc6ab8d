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
} from "../../engine/index.js";
import type { GenerationOptions } from "./sampling-params.js";
import type { ResolvedFormat } from "./response-format.js";
import type { GenerationGate } from "../types.js";
import { grantMaxTokens, type MaxTokensCaps } from "./max-tokens.js";

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
  testHook?: GenerationJob["testHook"];
  /** Reserves prompt + max_tokens against the caller's token limits (rate limits, budget). */
  reserveTokens?: GenerationGate["reserveTokens"];
}

export interface StartedGeneration {
  stream: GenerationStream;
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

export interface CollectedGeneration {
  text: string;
  finishReason: FinishReason;
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

/** Tokenizes, checks the context length, and starts the generation on the model's queue. */
export async function startGeneration(req: StartRequest): Promise<StartedGeneration> {
  const prompt = await req.model.prepare(req.input);
  const info = req.model.info();
  const context = info?.contextSize ?? Number.MAX_SAFE_INTEGER;
  const promptTokens = prompt.tokens.length;
  if (promptTokens === 0) {
    throw new BulwarkError("invalid_request", "The prompt is empty.", { param: req.inputParam });
  }
  if (promptTokens >= context) {
    throw new BulwarkError(
      "context_length_exceeded",
      `This model's context is ${context} tokens; the prompt has ${promptTokens}.`,
      { param: req.inputParam },
    );
  }
  const maxTokens = grantMaxTokens(req.options.maxTokens, req.maxTokensCaps, context, promptTokens);
  const vocabulary = info?.vocabularySize ?? 0;
  for (const token of Object.keys(req.options.sampling.logitBias ?? {})) {
    if (vocabulary > 0 && Number(token) >= vocabulary) {
      throw new BulwarkError("invalid_request", `Token ${token} is not in the vocabulary.`, {
        param: "logit_bias",
      });
    }
  }
  const job: GenerationJob = {
    id: req.requestId,
    prompt,
    sampling: req.options.sampling,
    maxTokens,
    stop: [...req.options.stop, ...req.format.stop],
    ignoreEos: req.options.ignoreEos,
    grammar: req.format.grammar,
    testHook: req.testHook,
  };
  const reservation = await req.reserveTokens?.(promptTokens + maxTokens);
  const settle = (used: number) => reservation?.settle(used);
  try {
    return { stream: req.model.generate(job), promptTokens, settle };
  } catch (err) {
    settle(0);
    throw err;
  }
}

/** Reads a whole generation; a restart on another worker discards what was read. */
export async function collectGeneration(
  started: StartedGeneration,
  onTokens?: (tokens: number) => void,
): Promise<CollectedGeneration> {
  let parts: string[] = [];
  for await (const event of started.stream) {
    if (event.type === "restart") {
      parts = [];
    } else if (event.type === "text") {
      parts.push(event.text);
      onTokens?.(event.tokens);
    } else {
      return {
        text: parts.join(""),
        finishReason: event.finishReason,
        usage: makeUsage(event.promptTokens, event.completionTokens, event.timings.cachedTokens),
      };
    }
  }
  throw new BulwarkError("internal_error", "The generation ended without a result.");
}
