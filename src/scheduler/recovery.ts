/**
 * What becomes of a request whose worker died under it. Pure: the host applies the verdict.
 *
 * A request is a suspected query of death only when its worker died while decoding it (not
 * while it waited in the worker, or was sent to a worker already killed from outside); one that
 * two workers died decoding is refused, so that it cannot take down every replica in turn. Any
 * other lost request goes on elsewhere: one that has sent nothing to its client starts over
 * (re-queued ahead of its priority); a stream that has begun resumes from the tokens it sent.
 */
import type { GenerationEvent, GenerationJob } from "../engine/index.js";

export type LossVerdict =
  /** The client went away: end the stream quietly. */
  | "drop"
  /** The server is stopping its workers on purpose: nowhere to re-queue to. */
  | "shutting_down"
  /** The second worker died decoding it: refuse with request_crashed_workers. */
  | "refuse"
  /** Nothing reached the client: run it again elsewhere, from the start. */
  | "requeue"
  /** The stream began: continue it elsewhere from what was sent (see `continuation`). */
  | "resume"
  /** The stream began and cannot be continued (its engine did not report token ids). */
  | "fail_stream";

export interface LostRequest {
  cancelled: boolean;
  /** The first byte went to the client. */
  committed: boolean;
  /** Workers that died while decoding this request, this death included. */
  losses: number;
  /** Every text event sent so far named its token ids: the stream can be continued. */
  resumable: boolean;
}

/** Workers a request may take down while decoding it before it is refused. */
export const MAX_WORKER_LOSSES = 2;

export function lossVerdict(request: LostRequest, closing: boolean): LossVerdict {
  if (request.cancelled) return "drop";
  if (closing) return "shutting_down";
  if (request.losses >= MAX_WORKER_LOSSES) return "refuse";
  if (!request.committed) return "requeue";
  return request.resumable ? "resume" : "fail_stream";
}

/** What a stream has sent so far: the ids of its tokens, and the text still held back. */
export interface StreamProgress {
  tokens: number[];
  pending: string;
}

/**
 * The job that continues `job` after `progress`: the prompt followed by the tokens sent, so a
 * greedy continuation is the uninterrupted one, and a sampled one goes on from the same prefix.
 * max_tokens still counts every token (the worker counts the resumed ones as generated), so
 * what is left shrinks by what was sent. Undefined when nothing is left to generate.
 */
export function continuation(
  job: GenerationJob,
  progress: StreamProgress,
): GenerationJob | undefined {
  if (progress.tokens.length >= job.maxTokens) return undefined;
  // The prompt's log-probabilities went out before the first text: not again.
  return {
    ...job,
    promptLogprobs: undefined,
    resume: { tokens: [...progress.tokens], pending: progress.pending },
  };
}

/**
 * The events that end a stream which had sent all of its max_tokens when its worker died:
 * the text still held back, then `done` with the counts of the whole answer.
 */
export function endOfSentStream(job: GenerationJob, progress: StreamProgress): GenerationEvent[] {
  const events: GenerationEvent[] = [];
  if (progress.pending) events.push({ type: "text", text: progress.pending, tokens: 0, ids: [] });
  events.push({
    type: "done",
    finishReason: "length",
    promptTokens: job.prompt.tokens.length,
    completionTokens: progress.tokens.length,
    timings: { cachedTokens: 0, promptMs: 0, generationMs: 0 },
  });
  return events;
}
