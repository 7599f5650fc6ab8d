/**
 * Sends one streaming completion and records what `vllm bench serve` records: the time to the
 * first chunk with choices, every gap between such chunks, the time of the last one, and the
 * token counts from the final usage chunk (stream_options.include_usage).
 */
import type { HttpTarget } from "./http.js";
import type { BenchRequest } from "./datasets.js";
import {
  errorCodeSuffix,
  failure,
  sendTimed,
  usageCounts,
  type SendOptions,
  type Timed,
} from "./request.js";

export function sendStreaming(
  target: HttpTarget,
  req: BenchRequest,
  options: SendOptions,
): Promise<Timed> {
  return sendTimed(target, req, options, true, async (res, st) => {
    let ttft = 0;
    let last = st;
    let firstSeen = false;
    const itl: number[] = [];
    let chunksWithChoices = 0;
    let usage: Record<string, unknown> | undefined;
    let done = false;
    res.stream.setEncoding("utf8");
    let buffer = "";
    for await (const piece of res.stream) {
      buffer += piece as string;
      let sep: number;
      while ((sep = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        const data = event
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n");
        if (!data) continue; // a comment or keep-alive
        if (data === "[DONE]") {
          done = true;
          continue;
        }
        const now = performance.now();
        const chunk = JSON.parse(data) as Record<string, unknown>;
        if (chunk.error) return failure(`stream_error${errorCodeSuffix(chunk.error)}`, data);
        const choices = chunk.choices as unknown[] | undefined;
        if (Array.isArray(choices) && choices.length > 0) {
          if (!firstSeen) {
            firstSeen = true;
            ttft = now - st;
          } else {
            itl.push(now - last);
          }
          last = now;
          chunksWithChoices++;
        }
        // vLLM and Bulwark send usage in a chunk of its own; llama-server puts it on the last
        // chunk with choices.
        if (chunk.usage && typeof chunk.usage === "object") {
          usage = chunk.usage as Record<string, unknown>;
        }
      }
    }
    if (!firstSeen) return failure("no_tokens", "the stream carried no chunk with choices");
    if (!done) return failure("truncated_stream", "the stream ended without data: [DONE]");
    return {
      ok: true,
      ttftMs: ttft,
      itlMs: itl,
      e2eMs: last - st,
      // Without usage the chunks are the best count the client has (one token a chunk).
      ...usageCounts(usage, req, chunksWithChoices),
    };
  });
}
