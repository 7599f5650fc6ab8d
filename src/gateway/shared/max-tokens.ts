/**
 * The one rule for max_tokens (docs/api.md, "max_tokens"):
 * - above the configured `limits.maxTokens` is the client's error: 400 `input_too_large`,
 *   checked with the other configured bounds, before any work;
 * - prompt + max_tokens beyond the context is too: 400 `context_length_exceeded`, checked once
 *   the prompt is tokenized;
 * - the degradation ladder's cap under memory pressure is the server's temporary state, not a
 *   fault of the request, so it lowers max_tokens silently (the answer ends with "length");
 * - no max_tokens means the smallest of the rest of the context and both caps.
 */
import { BulwarkError } from "../../errors/index.js";

export interface MaxTokensCaps {
  /** `limits.maxTokens`: the most a client may ask for. */
  limit: number | undefined;
  /** The degradation ladder's cap for the model while memory is short. */
  pressureCap: number | undefined;
}

/** Refuses a max_tokens above the configured limit (a bound known before any work). */
export function checkMaxTokensLimit(requested: number | undefined, limit: number | undefined) {
  if (requested !== undefined && limit !== undefined && requested > limit) {
    throw new BulwarkError("input_too_large", `max_tokens may be at most ${limit}.`, {
      param: "max_tokens",
    });
  }
}

/**
 * The number of tokens a generation may produce once the prompt's length is known, or the 400
 * that refuses it; `requested` has passed `checkMaxTokensLimit`.
 */
export function grantMaxTokens(
  requested: number | undefined,
  caps: MaxTokensCaps,
  context: number,
  promptTokens: number,
): number {
  const room = context - promptTokens;
  if (requested !== undefined && requested > room) {
    throw new BulwarkError(
      "context_length_exceeded",
      `This model's context is ${context} tokens; the prompt has ${promptTokens} and max_tokens ` +
        `asks for ${requested} more.`,
      { param: "max_tokens" },
    );
  }
  const bounds = [requested ?? room, room, caps.limit, caps.pressureCap];
  return Math.min(...bounds.filter((b): b is number => b !== undefined));
}

/**
 * max_tokens for a prompt whose length is an estimate (a remote backend counts it): never a
 * refusal, since the backend checks the context exactly; no max_tokens means the context left
 * after the estimate (at least 1), and both caps hold as for any model.
 */
export function grantEstimatedMaxTokens(
  requested: number | undefined,
  caps: MaxTokensCaps,
  context: number,
  estimatedPromptTokens: number,
): number {
  const bounds = [
    requested ?? Math.max(1, context - estimatedPromptTokens),
    caps.limit,
    caps.pressureCap,
  ];
  return Math.min(...bounds.filter((b): b is number => b !== undefined));
}
