/**
 * Sends a started generation to the client, as one JSON body or as server-sent events. Handles
 * the client going away (the slot is freed at once), the request timeout, and a worker dying:
 * before the first token the request silently restarts elsewhere; after it, the stream ends with
 * an error event in OpenAI's shape, then [DONE].
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { BulwarkError, toClientError } from "../../errors/index.js";
import type { FinishReason } from "../../engine/index.js";
import { SseResponse } from "./sse.js";
import type { GatewayObserver } from "../types.js";
import {
  collectGeneration,
  makeUsage,
  type CollectedGeneration,
  type StartedGeneration,
  type Usage,
} from "./generation-service.js";

/** Builds the response objects of one endpoint (chat or completions). */
export interface ChunkRenderer {
  text(text: string, first: boolean): object;
  finish(reason: FinishReason, first: boolean): object[];
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

export async function respondGeneration(
  request: FastifyRequest,
  reply: FastifyReply,
  started: StartedGeneration,
  renderer: ChunkRenderer,
  options: RespondOptions,
): Promise<object | undefined> {
  const record = request.ctx.record;
  record.promptTokens = started.promptTokens;
  const output = request.ctx.gate.output;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    started.stream.cancel();
  }, options.timeoutMs);
  const onClose = () => {
    if (!reply.raw.writableFinished) started.stream.cancel();
  };
  reply.raw.once("close", onClose);
  const onTokens = tokenTimer(request, options.observer);
  try {
    if (!options.stream) {
      const result = await collectGeneration(started, onTokens);
      if (timedOut) throw timeoutError(options.timeoutMs);
      record.completionTokens = result.usage.completion_tokens;
      record.cachedTokens = result.usage.prompt_tokens_details?.cached_tokens;
      record.finishReason = result.finishReason;
      if (output) result.text = output.push(result.text) + output.end();
      return renderer.full(result);
    }
    reply.hijack();
    await streamEvents(request, reply, started, renderer, options, () => timedOut, onTokens);
    return undefined;
  } finally {
    clearTimeout(timer);
    reply.raw.off("close", onClose);
    // Reserved tokens beyond what was used go back, whatever way the generation ended; a
    // stream cut short without a final count is charged what it had streamed.
    started.settle(started.promptTokens + (record.completionTokens ?? record.streamedPieces ?? 0));
  }
}

async function streamEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  started: StartedGeneration,
  renderer: ChunkRenderer,
  options: RespondOptions,
  timedOut: () => boolean,
  onTokens: (tokens: number) => void,
): Promise<void> {
  const record = request.ctx.record;
  const output = request.ctx.gate.output;
  const sse = new SseResponse(reply.raw, { "x-request-id": request.id });
  let first = true;
  try {
    for await (const event of started.stream) {
      if (sse.clientGone) continue; // drain until the worker confirms the abort
      if (event.type === "restart") {
        output?.reset(); // nothing was sent yet: the request moved
        continue;
      }
      if (event.type === "text") {
        record.streamedPieces = (record.streamedPieces ?? 0) + 1;
        const text = output ? output.push(event.text) : event.text;
        if (!text) continue;
        if (first) started.stream.commit();
        onTokens(event.tokens);
        await sse.send(renderer.text(text, first));
        first = false;
        continue;
      }
      if (timedOut()) throw timeoutError(options.timeoutMs);
      if (event.finishReason === "abort") {
        record.completionTokens = event.completionTokens;
        return;
      }
      const tail = output?.end();
      if (tail) {
        if (first) {
          started.stream.commit();
          record.ttftMs = performance.now() - record.startedAt;
        }
        await sse.send(renderer.text(tail, first));
        first = false;
      }
      if (first) started.stream.commit();
      record.completionTokens = event.completionTokens;
      record.cachedTokens = event.timings.cachedTokens;
      record.finishReason = event.finishReason;
      for (const chunk of renderer.finish(event.finishReason, first)) await sse.send(chunk);
      if (options.includeUsage) {
        await sse.send(
          renderer.usage(
            makeUsage(event.promptTokens, event.completionTokens, event.timings.cachedTokens),
          ),
        );
      }
      await sse.done();
      return;
    }
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
