/**
 * Sends a started generation to the client, as one JSON body or as server-sent events. Handles
 * the client going away (the slots are freed at once), the request timeout, and a worker dying:
 * before a choice's first chunk the choice silently restarts elsewhere; after it, the stream ends
 * with an error event in OpenAI's shape, then [DONE]. With n > 1 the choices run side by side and
 * their chunks interleave, each naming its `index`.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { BulwarkError, toClientError } from "../../errors/index.js";
import type { FinishReason, GenerationStream, TokenLogprob } from "../../engine/index.js";
import { SseResponse } from "./sse.js";
import type { GatewayObserver, OutputFilter } from "../types.js";
import {
  collectGeneration,
  makeUsage,
  type CollectedGeneration,
  type PromptLogprobs,
  type StartedGeneration,
  type Usage,
} from "./generation-service.js";

/**
 * Builds the response objects of one endpoint (chat or completions). `first`: nothing has been
 * sent for this choice yet. A renderer may hold text back (return null) and send it later.
 */
export interface ChunkRenderer {
  text(choice: number, text: string, first: boolean, logprobs?: TokenLogprob[]): object | null;
  /** The choice restarts on another worker before anything was sent: drop what is held. */
  restart?(choice: number): void;
  /** The prompt's log-probabilities arrived (echo): kept for the choice's first chunk. */
  prompt?(choice: number, prompt: PromptLogprobs): void;
  finish(choice: number, reason: FinishReason, first: boolean): object[];
  usage(usage: Usage): object;
  full(result: CollectedGeneration): object;
}

export interface RespondOptions {
  stream: boolean;
  includeUsage: boolean;
  timeoutMs: number;
  /** Receives the inter-token latency (metrics); optional. */
  observer?: GatewayObserver;
}

/**
 * Times the tokens of one request: the first sets the request's time to first token, each
 * later one reports its gap to the observer as inter-token latency.
 */
function tokenTimer(request: FastifyRequest, observer: GatewayObserver | undefined) {
  const record = request.ctx.record;
  let last: number | undefined;
  return (tokens: number) => {
    const now = performance.now();
    if (last === undefined) {
      record.ttftMs ??= now - record.startedAt;
    } else if (observer && tokens > 0 && record.model) {
      observer.interToken(record.model, (now - last) / 1000 / tokens, tokens);
    }
    last = now;
  };
}

function timeoutError(timeoutMs: number): BulwarkError {
  return new BulwarkError(
    "generation_timeout",
    `The generation did not finish within ${timeoutMs} ms.`,
  );
}

/** One output filter per choice: the request's own for the first, forks for the others. */
function choiceFilters(output: OutputFilter | undefined, n: number): (OutputFilter | undefined)[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? output : output?.fork?.()));
}

const cancelAll = (streams: readonly GenerationStream[]) => {
  for (const s of streams) s.cancel();
};

export async function respondGeneration(
  request: FastifyRequest,
  reply: FastifyReply,
  started: StartedGeneration,
  renderer: ChunkRenderer,
  options: RespondOptions,
): Promise<object | undefined> {
  const record = request.ctx.record;
  record.promptTokens = started.promptTokens;
  const filters = choiceFilters(request.ctx.gate.output, started.choices.length);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    cancelAll(started.choices);
  }, options.timeoutMs);
  const onClose = () => {
    if (!reply.raw.writableFinished) cancelAll(started.choices);
  };
  reply.raw.once("close", onClose);
  const onTokens = tokenTimer(request, options.observer);
  try {
    if (!options.stream) {
      let result: CollectedGeneration;
      try {
        result = await collectGeneration(started, onTokens);
      } catch (err) {
        cancelAll(started.choices);
        throw err;
      }
      if (timedOut) throw timeoutError(options.timeoutMs);
      // A remote backend counts the prompt itself: its count replaces the estimate.
      record.promptTokens = result.usage.prompt_tokens;
      record.completionTokens = result.usage.completion_tokens;
      record.cachedTokens = result.usage.prompt_tokens_details?.cached_tokens;
      record.finishReason = result.choices[0]?.finishReason;
      result.choices.forEach((choice, i) => {
        const filter = filters[i];
        if (filter) choice.text = filter.push(choice.text) + filter.end();
      });
      return renderer.full(result);
    }
    reply.hijack();
    await streamChoices(
      request,
      reply,
      started,
      renderer,
      options,
      filters,
      () => timedOut,
      onTokens,
    );
    return undefined;
  } finally {
    clearTimeout(timer);
    reply.raw.off("close", onClose);
    // Reserved tokens beyond what was used go back, whatever way the generation ended; a
    // stream cut short without a final count is charged what it had streamed.
    started.settle(
      (record.promptTokens ?? started.promptTokens) +
        (record.completionTokens ?? record.streamedPieces ?? 0),
    );
  }
}

/** How one choice of a stream ended. */
interface ChoiceEnd {
  completionTokens: number;
  cachedTokens: number;
  promptTokens: number;
  finishReason: FinishReason;
}

async function streamChoices(
  request: FastifyRequest,
  reply: FastifyReply,
  started: StartedGeneration,
  renderer: ChunkRenderer,
  options: RespondOptions,
  filters: (OutputFilter | undefined)[],
  timedOut: () => boolean,
  onTokens: (tokens: number) => void,
): Promise<void> {
  const record = request.ctx.record;
  const sse = new SseResponse(reply.raw, { "x-request-id": request.id });
  /** Set once the stream is failing: the other choices send nothing more. */
  let failed = false;
  const send = async (chunk: object | null, stream: GenerationStream): Promise<boolean> => {
    if (chunk === null || failed) return false;
    stream.commit();
    await sse.send(chunk);
    return true;
  };

  /** Streams one choice; resolves with its end, or undefined when it was aborted. */
  const streamChoice = async (index: number): Promise<ChoiceEnd | undefined> => {
    const stream = started.choices[index]!;
    const output = filters[index];
    let first = true;
    for await (const event of stream) {
      if (sse.clientGone) continue; // drain until the worker confirms the abort
      if (event.type === "restart") {
        output?.reset(); // nothing was sent yet: the request moved
        renderer.restart?.(index);
        continue;
      }
      if (event.type === "prompt") {
        renderer.prompt?.(index, { first: event.first, logprobs: event.logprobs });
        continue;
      }
      if (event.type === "text") {
        record.streamedPieces = (record.streamedPieces ?? 0) + 1;
        const text = output ? output.push(event.text) : event.text;
        if (!text && !event.logprobs?.length) continue;
        onTokens(event.tokens);
        if (await send(renderer.text(index, text, first, event.logprobs), stream)) first = false;
        continue;
      }
      if (timedOut()) throw timeoutError(options.timeoutMs);
      if (event.finishReason === "abort") {
        record.completionTokens = (record.completionTokens ?? 0) + event.completionTokens;
        return undefined;
      }
      const tail = output?.end();
      if (tail) {
        if (first) record.ttftMs ??= performance.now() - record.startedAt;
        if (await send(renderer.text(index, tail, first), stream)) first = false;
      }
      stream.commit();
      for (const chunk of renderer.finish(index, event.finishReason, first)) {
        if (!failed) await sse.send(chunk);
      }
      return {
        completionTokens: event.completionTokens,
        cachedTokens: event.timings.cachedTokens,
        promptTokens: event.promptTokens,
        finishReason: event.finishReason,
      };
    }
    return undefined;
  };

  try {
    // A failing choice stops the others; the error goes out once all have ended.
    const runs = started.choices.map((_, i) =>
      streamChoice(i).catch((err: unknown) => {
        failed = true;
        cancelAll(started.choices);
        throw err;
      }),
    );
    const settled = await Promise.allSettled(runs);
    const failure = settled.find((r) => r.status === "rejected");
    if (failure) throw failure.reason;
    const ends = settled.map((r) => (r as PromiseFulfilledResult<ChoiceEnd | undefined>).value);
    if (ends.some((e) => e === undefined)) return; // aborted: the client is gone
    const done = ends as ChoiceEnd[];
    const completion = done.reduce((sum, e) => sum + e.completionTokens, 0);
    record.promptTokens = done[0]!.promptTokens;
    record.completionTokens = completion;
    record.cachedTokens = done[0]!.cachedTokens;
    record.finishReason = done[0]!.finishReason;
    if (options.includeUsage) {
      await sse.send(
        renderer.usage(makeUsage(done[0]!.promptTokens, completion, done[0]!.cachedTokens)),
      );
    }
    await sse.done();
  } catch (err) {
    const error = toClientError(err);
    record.errorCode = error.code;
    if (error.code === "internal_error") {
      request.log.error({ err }, "stream failed");
    }
    if (!sse.hasStarted) {
      if (!reply.raw.headersSent && !reply.raw.destroyed) {
        reply.raw.writeHead(error.status, {
          ...error.responseHeaders(),
          "content-type": "application/json; charset=utf-8",
          "x-request-id": request.id,
        });
        reply.raw.end(JSON.stringify(error.toBody()));
      }
      return;
    }
    await sse.send(error.toBody());
    await sse.done();
  } finally {
    sse.end();
  }
}
