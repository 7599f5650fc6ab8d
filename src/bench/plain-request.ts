/**
 * Sends one non-streamed completion (`stream: false`). As in vLLM's non-streaming backends, the
 * whole latency is both the TTFT and the E2E latency, there is no ITL, and the output tokens are
 * `usage.completion_tokens`.
 */
import type { HttpTarget } from "./http.js";
import { readText } from "./http.js";
import type { BenchRequest } from "./datasets.js";
import {
  errorCodeSuffix,
  failure,
  sendTimed,
  usageCounts,
  type SendOptions,
  type Timed,
} from "./request.js";

/**
 * The outcome of a 200 answer's body that took `latencyMs`: "bad_chunk" when it is not JSON,
 * "body_error:CODE" when it carries an error, "no_tokens" without choices, "no_usage" without
 * `usage.completion_tokens` (the only count of output tokens a plain answer has).
 */
export function plainOutcome(text: string, latencyMs: number, req: BenchRequest): Timed {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    return failure("bad_chunk", (err as Error).message);
  }
  if (body.error) return failure(`body_error${errorCodeSuffix(body.error)}`, text);
  const choices = body.choices as unknown[] | undefined;
  if (!Array.isArray(choices) || choices.length === 0) {
    return failure("no_tokens", "the answer carried no choices");
  }
  const usage =
    body.usage && typeof body.usage === "object"
      ? (body.usage as Record<string, unknown>)
      : undefined;
  if (typeof usage?.completion_tokens !== "number") {
    return failure("no_usage", "the answer carried no usage.completion_tokens");
  }
  return {
    ok: true,
    ttftMs: latencyMs,
    itlMs: [],
    e2eMs: latencyMs,
    ...usageCounts(usage, req, 0),
  };
}

export function sendPlain(
  target: HttpTarget,
  req: BenchRequest,
  options: SendOptions,
): Promise<Timed> {
  return sendTimed(target, req, options, false, async (res, st) => {
    const text = await readText(res.stream);
    return plainOutcome(text, performance.now() - st, req);
  });
}
