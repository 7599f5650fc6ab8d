/** OpenAI's text_completion objects, echo and the legacy logprobs shape included. */
import type { FinishReason, TokenLogprob } from "../../engine/index.js";
import type { ChunkRenderer } from "../shared/respond-generation.js";
import type { CollectedChoice, PromptLogprobs } from "../shared/generation-service.js";

/** The legacy `logprobs` object: parallel lists, offsets into the choice's text. */
interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

function topOf(entry: TokenLogprob): Record<string, number> {
  const top: Record<string, number> = {};
  for (const alt of entry.top) top[alt.token] ??= alt.logprob;
  return top;
}

/** Appends entries to a legacy logprobs object; returns the offset after them. */
function appendEntries(
  into: LegacyLogprobs,
  entries: readonly TokenLogprob[],
  offset: number,
  withTop: boolean,
): number {
  for (const e of entries) {
    into.tokens.push(e.token);
    into.token_logprobs.push(e.logprob);
    into.top_logprobs.push(withTop ? topOf(e) : null);
    into.text_offset.push(offset);
    offset += e.token.length;
  }
  return offset;
}

const emptyLogprobs = (): LegacyLogprobs => ({
  tokens: [],
  token_logprobs: [],
  top_logprobs: [],
  text_offset: [],
});

interface Options {
  requestId: string;
  model: string;
  /** logprobs: alternatives per token (0..5); undefined: no logprobs. */
  logprobs?: number;
  /** echo: the prompt text that begins every choice. */
  echo?: string;
}

export function completionRenderer(options: Options): ChunkRenderer {
  const { requestId, model, echo } = options;
  const id = `cmpl-${requestId}`;
  const created = Math.floor(Date.now() / 1000);
  const withLogprobs = options.logprobs !== undefined;
  const withTop = (options.logprobs ?? 0) > 0;
  /** Per choice: the text offset reached, and the prompt's entries waiting for the first chunk. */
  const offsets = new Map<number, number>();
  const prompts = new Map<number, PromptLogprobs>();

  /** The prompt part of a choice's first chunk: echoed text and its tokens' entries. */
  const promptPart = (index: number, into: LegacyLogprobs | null): string => {
    if (echo === undefined) return "";
    const prompt = prompts.get(index);
    prompts.delete(index);
    if (into && prompt) {
      into.tokens.push(prompt.first);
      // OpenAI: the first prompt token has no log-probability.
      into.token_logprobs.push(null);
      into.top_logprobs.push(null);
      into.text_offset.push(0);
      appendEntries(into, prompt.logprobs, prompt.first.length, withTop);
    }
    return echo;
  };

  const chunk = (
    index: number,
    text: string,
    first: boolean,
    finishReason: FinishReason | null,
    entries?: readonly TokenLogprob[],
  ) => {
    const logprobs = withLogprobs ? emptyLogprobs() : null;
    const prefix = first ? promptPart(index, logprobs) : "";
    if (first) offsets.set(index, prefix.length);
    if (logprobs && entries) {
      offsets.set(index, appendEntries(logprobs, entries, offsets.get(index) ?? 0, withTop));
    }
    return {
      id,
      object: "text_completion",
      created,
      model,
      system_fingerprint: null,
      choices: [{ index, text: prefix + text, logprobs, finish_reason: finishReason }],
    };
  };

  const fullChoice = (choice: CollectedChoice, index: number) => {
    const logprobs = withLogprobs ? emptyLogprobs() : null;
    let prefix = "";
    if (echo !== undefined) {
      if (choice.prompt) prompts.set(index, choice.prompt);
      prefix = promptPart(index, logprobs);
    }
    if (logprobs) appendEntries(logprobs, choice.logprobs ?? [], prefix.length, withTop);
    return {
      index,
      text: prefix + choice.text,
      logprobs,
      finish_reason: choice.finishReason,
    };
  };

  return {
    prompt: (index, prompt) => {
      prompts.set(index, prompt);
    },
    text: (index, text, first, logprobs) => chunk(index, text, first, null, logprobs),
    finish: (index, reason, first) => [chunk(index, "", first, reason)],
    usage: (usage) => ({ id, object: "text_completion", created, model, choices: [], usage }),
    full: (result) => ({
      id,
      object: "text_completion",
      created,
      model,
      system_fingerprint: null,
      choices: result.choices.map(fullChoice),
      usage: result.usage,
    }),
  };
}
