/**
 * A generation job as the body of llama-server's native POST /completion: prompt as token ids,
 * sampling mapped one to one, and the grammar as GBNF text. Pure, unit tested.
 */
import type { GenerationJob } from "../types.js";

/** logit_bias as llama-server takes it: [[token, bias]], false bans a token. */
export function logitBiasPairs(
  bias: Record<number, number> | undefined,
): [number, number | false][] {
  return Object.entries(bias ?? {}).map(([token, value]) => [
    Number(token),
    value === -Infinity ? false : value,
  ]);
}

/** The /completion request body for a job; `jsonGrammar` is llama.cpp's json.gbnf text. */
export function completionBody(job: GenerationJob, jsonGrammar: string): Record<string, unknown> {
  const s = job.sampling;
  const resumed = job.resume?.tokens ?? [];
  const body: Record<string, unknown> = {
    // A resumed job continues after the tokens already sent, which count toward max_tokens.
    prompt: [...job.prompt.tokens, ...resumed],
    stream: true,
    n_predict: Math.max(1, job.maxTokens - resumed.length),
    temperature: s.temperature,
    top_p: s.topP,
    top_k: s.topK,
    min_p: s.minP,
    presence_penalty: s.presencePenalty,
    frequency_penalty: s.frequencyPenalty,
    // No repetition penalty beyond what the request asks for (llama.cpp's default is 1.0 too).
    repeat_penalty: 1,
    // Stop strings are matched by the gateway (CompletionStream), as by the node-llama-cpp
    // worker, so that text events can name their tokens and the text held back.
    ignore_eos: job.ignoreEos,
    cache_prompt: true,
    return_tokens: true,
    // One completion per request, never echoed, no per-token probabilities.
    n_probs: 0,
  };
  if (s.seed !== undefined) body.seed = s.seed;
  const bias = logitBiasPairs(s.logitBias);
  if (bias.length > 0) body.logit_bias = bias;
  if (job.grammar) body.grammar = job.grammar.kind === "json" ? jsonGrammar : job.grammar.text;
  return body;
}
