/**
 * The two ends of a cached generation: a stream that replays a stored answer through the same
 * respondGeneration as a live one (same chunks, usage chunk, [DONE]; the key's output filter
 * applied per request), and a wrapper that records a live stream so that its complete answer
 * can be stored.
 */
import type { GenerationStream, StreamEvent } from "../../engine/index.js";
import type { GenerationValue } from "../../cache/index.js";
import type { StartedGeneration } from "./generation-service.js";

/**
 * A stored answer as a started generation. Its text events carry no tokens (no inter-token
 * latency is reported for them) and every prompt token counts as cached.
 */
export function replayGeneration(value: GenerationValue): StartedGeneration {
  let cancelled = false;
  const stream: GenerationStream = {
    commit: () => undefined,
    cancel: () => {
      cancelled = true;
    },
    async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
      for (const text of value.pieces) {
        if (cancelled) break;
        yield { type: "text", text, tokens: 0 };
      }
      yield {
        type: "done",
        finishReason: cancelled ? "abort" : value.finishReason,
        promptTokens: value.promptTokens,
        completionTokens: value.completionTokens,
        timings: { cachedTokens: value.promptTokens, promptMs: 0, generationMs: 0 },
      };
    },
  };
  return { choices: [stream], promptTokens: value.promptTokens, settle: () => undefined };
}

/**
 * Wraps a live generation of one choice so that `done` hears its complete answer (finished by a
 * stop or its length), or undefined when it ended any other way (aborted, failed, cut short).
 * Requests with several choices never reach the cache (`cacheableRequest`).
 */
export function recordGeneration(
  started: StartedGeneration,
  done: (value: GenerationValue | undefined) => void,
): StartedGeneration {
  const inner = started.choices[0]!;
  const stream: GenerationStream = {
    commit: () => inner.commit(),
    cancel: () => inner.cancel(),
    async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
      let pieces: string[] = [];
      let ended = false;
      try {
        for await (const event of inner) {
          if (event.type === "restart") pieces = [];
          else if (event.type === "text") pieces.push(event.text);
          else if (event.type === "done") {
            ended = true;
            done(
              event.finishReason === "abort"
                ? undefined
                : {
                    kind: "generation",
                    pieces,
                    finishReason: event.finishReason,
                    promptTokens: event.promptTokens,
                    completionTokens: event.completionTokens,
                  },
            );
          }
          yield event;
        }
      } finally {
        if (!ended) done(undefined);
      }
    },
  };
  return { ...started, choices: [stream] };
}
