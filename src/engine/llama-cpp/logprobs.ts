/**
 * Log-probabilities in the worker. node-llama-cpp 3.21.1 reports, with `probabilities: true`,
 * the softmax over the candidates its sampler chain leaves (LlamaContext's sampleToken): after
 * logit_bias, the repeat penalties, the grammar, top_k / top_p / min_p and the temperature. With
 * temperature 0 the chain is greedy and keeps every token unchanged, so the values are the
 * model's own log-softmax (after logit_bias and the penalties, when a request sets them).
 */
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import type { TokenAlternative, TokenLogprob } from "../types.js";
import type { LlamaRuntime } from "./runtime.js";

/** A token's text and UTF-8 bytes, as a log-probability entry names it. */
export function tokenAlternative(
  runtime: LlamaRuntime,
  token: number,
  logprob: number,
): TokenAlternative {
  const text = runtime.tokenPiece(token);
  return { token: text, bytes: runtime.tokenBytes(token, text), logprob };
}

/** The entry for `token` from a probability map sorted from the most likely down. */
export function tokenLogprob(
  runtime: LlamaRuntime,
  token: number,
  probabilities: ReadonlyMap<Token, number>,
  top: number,
): TokenLogprob {
  const alternatives: TokenAlternative[] = [];
  for (const [id, p] of probabilities) {
    if (alternatives.length >= top) break;
    alternatives.push(tokenAlternative(runtime, id, Math.log(p)));
  }
  const p = probabilities.get(token as Token) ?? 0;
  return { ...tokenAlternative(runtime, token, Math.log(p)), top: alternatives };
}

/** Prompt positions evaluated per step: each holds a probability map over the vocabulary. */
const PROMPT_CHUNK = 8;

/**
 * Evaluates all prompt tokens but the last, asking the model's next-token distribution at each
 * (greedy settings: the raw log-softmax), and returns the entries of prompt tokens 1..n-1. The
 * sequence must hold none of the prompt (its cache gives no logits). `first` is the text of the
 * first prompt token, which has no log-probability. The positions go in small chunks, as the
 * validator's perplexity does: a whole prompt's maps would cost hundreds of MB on a 32k
 * vocabulary.
 */
export async function promptLogprobs(
  runtime: LlamaRuntime,
  sequence: LlamaContextSequence,
  prompt: readonly number[],
  top: number,
): Promise<{ first: string; logprobs: TokenLogprob[] }> {
  const head = prompt.slice(0, -1) as Token[];
  const logprobs: TokenLogprob[] = [];
  for (let start = 0; start < head.length; start += PROMPT_CHUNK) {
    const chunk = head.slice(start, start + PROMPT_CHUNK);
    const outputs = await sequence.controlledEvaluate(
      chunk.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 0 } } }]),
    );
    chunk.forEach((_, k) => {
      const probabilities = outputs[k]?.next.probabilities ?? new Map<Token, number>();
      logprobs.push(tokenLogprob(runtime, prompt[start + k + 1]!, probabilities, top));
    });
  }
  // The first token is usually BOS: its text is empty, as in the echoed prompt.
  return { first: runtime.tokenPiece(prompt[0]!, false), logprobs };
}
