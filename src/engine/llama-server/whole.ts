/**
 * A job delivered whole (GenerationJob.whole: a non-streamed request): one non-streamed
 * /completion whose stops llama-server matches itself, read into the same events a streamed job
 * ends with. Streaming costs a wake-up of llama-server's HTTP thread and of the gateway for every
 * token, which on a machine whose cores all run decode threads delays the decode steps; a
 * non-streamed answer costs one. Pure, unit tested.
 */
import { StopMatcher } from "../text/index.js";
import type { FinishReason, GenerationEvent } from "../types.js";
import { finishReasonOf } from "./stream.js";

/** The fields of llama-server's non-streamed /completion answer that Bulwark reads. */
export interface WholeAnswer {
  content?: string;
  tokens?: number[];
  stop_type?: string;
  stopping_word?: string;
  tokens_predicted?: number;
  timings?: { cache_n?: number; prompt_ms?: number; predicted_ms?: number };
}

export interface WholeStops {
  /** The request's and the chat format's stop strings. */
  strings: readonly string[];
  /** The chat format's stop tokens that llama.cpp does not end generation on, with their text. */
  tokens: ReadonlyMap<number, string>;
}

/**
 * The streamed job's body turned into a whole one. llama-server gets every stop string, and each
 * stop token as a preserved token (its text is then written out, not dropped as a control token's
 * is) whose text is a stop string: so it ends the generation at a stop token as the gateway's
 * matcher does for a stream. A token whose text is empty cannot be matched so; wholeEvents finds
 * it in the token ids instead.
 */
export function wholeBody(
  streamed: Record<string, unknown>,
  stops: WholeStops,
): Record<string, unknown> {
  const tokenTexts = [...stops.tokens.values()].filter((t) => t.length > 0);
  const stop = [...stops.strings.filter((s) => s.length > 0), ...tokenTexts];
  return {
    ...streamed,
    stream: false,
    return_tokens: true,
    ...(stop.length > 0 ? { stop } : {}),
    ...(tokenTexts.length > 0 ? { preserved_tokens: tokenTexts } : {}),
  };
}

/** What a whole answer means for the job. */
export type WholeOutcome =
  | { kind: "events"; events: GenerationEvent[] }
  /**
   * llama-server generated past a stop token it could not match by text: the answer is the text
   * of the first `tokens` ids (to be detokenized, then given to wholeEventsFromText).
   */
  | { kind: "detokenize"; tokens: number[] };

/** The text and done events of a whole answer, counted as a streamed job counts them. */
export function wholeEvents(
  answer: WholeAnswer,
  stops: WholeStops,
  promptTokens: number,
): WholeOutcome {
  const ids = answer.tokens ?? [];
  const at = ids.findIndex((t) => stops.tokens.has(t));
  if (at === -1) {
    // A stop string (or a stop token's text) ended it, or the end of generation, or the length
    // cap; llama-server has cut the content at the stop string. As in a stream, the
    // end-of-generation token is not part of the completion.
    const predicted = answer.tokens_predicted ?? ids.length;
    const counted = answer.stop_type === "eos" ? Math.max(0, predicted - 1) : predicted;
    return {
      kind: "events",
      events: eventsOf(answer.content ?? "", counted, finishReasonOf(answer), answer, promptTokens),
    };
  }
  const text = stops.tokens.get(ids[at]!) ?? "";
  if (at === ids.length - 1 && answer.stop_type === "word" && text === answer.stopping_word) {
    // Ended at the stop token's text: the content is cut before it, and (as in a stream) the
    // stop token is not counted.
    return {
      kind: "events",
      events: eventsOf(answer.content ?? "", at, "stop", answer, promptTokens),
    };
  }
  return { kind: "detokenize", tokens: ids.slice(0, at) };
}

/** The events of an answer cut at a stop token, from the text of the tokens before it. */
export function wholeEventsFromText(
  text: string,
  tokens: number,
  answer: WholeAnswer,
  stops: WholeStops,
  promptTokens: number,
): GenerationEvent[] {
  const cut = new StopMatcher(stops.strings).push(text);
  return eventsOf(cut.stopped ? cut.text : text, tokens, "stop", answer, promptTokens);
}

function eventsOf(
  text: string,
  tokens: number,
  finishReason: FinishReason,
  answer: WholeAnswer,
  promptTokens: number,
): GenerationEvent[] {
  const events: GenerationEvent[] = [];
  if (text || tokens > 0) events.push({ type: "text", text, tokens, pending: "" });
  const timings = answer.timings ?? {};
  events.push({
    type: "done",
    finishReason,
    promptTokens,
    completionTokens: tokens,
    timings: {
      cachedTokens: Math.min(timings.cache_n ?? 0, promptTokens),
      promptMs: timings.prompt_ms ?? 0,
      generationMs: timings.predicted_ms ?? 0,
    },
  });
  return events;
}
