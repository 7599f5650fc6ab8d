/**
 * Sends one streaming completion and records what `vllm bench serve` records: the time to the
 * first chunk with choices, every gap between such chunks, the time of the last one, and the
 * token counts from the final usage chunk (stream_options.include_usage).
 */
import type { HttpTarget } from "./http.js";
import { postJson, readText } from "./http.js";
import type { BenchRequest } from "./datasets.js";
import type { RequestOutcome } from "./metrics.js";

export interface SendOptions {
  model: string;
  endpoint: "completions" | "chat";
  ignoreEos: boolean;
  temperature?: number;
  /** Per-request limit in ms; the request is aborted and counted as a "timeout" failure. */
  timeoutMs: number;
}

type Timed = Omit<RequestOutcome, "startMs" | "queueMs">;

function failure(kind: string, message: string, partial: Partial<Timed> = {}): Timed {
  return {
    ok: false,
    errorKind: kind,
    errorMessage: message.slice(0, 300),
    ttftMs: 0,
    itlMs: [],
    e2eMs: 0,
    promptTokens: 0,
    outputTokens: 0,
    ...partial,
  };
}

/** The request body for one prompt. */
export function requestBody(req: BenchRequest, options: SendOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: options.model,
    max_tokens: req.outputLen,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (options.endpoint === "chat") {
    body.messages =
      typeof req.prompt === "string" ? [{ role: "user", content: req.prompt }] : req.prompt;
  } else {
    if (typeof req.prompt !== "string") {
      throw new RangeError("chat messages need --endpoint chat");
    }
    body.prompt = req.prompt;
  }
  if (options.ignoreEos) body.ignore_eos = true;
  if (options.temperature !== undefined) body.temperature = options.temperature;
  return body;
}

/** The failure kind of an HTTP error answer: "http_STATUS" plus the error code when there is one. */
export function httpFailureKind(status: number, body: string): string {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    if (typeof code === "string" && code) return `http_${status}:${code}`;
  } catch {
    // not JSON: the status alone
  }
  return `http_${status}`;
}

export async function sendStreaming(
  target: HttpTarget,
  req: BenchRequest,
  options: SendOptions,
): Promise<Timed> {
  const path = options.endpoint === "chat" ? "/v1/chat/completions" : "/v1/completions";
  const body = requestBody(req, options);
  const controller = new AbortController();
  let timedOut = false;
  // Our own timer: AbortSignal.timeout can fail to fire after GC on Node 20.
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const st = performance.now();
  let ttft = 0;
  let last = st;
  let firstSeen = false;
  const itl: number[] = [];
  let chunksWithChoices = 0;
  let usage: Record<string, unknown> | undefined;
  let done = false;
  try {
    const res = await postJson(target, path, body, controller.signal);
    if (res.status !== 200) {
      const text = await readText(res.stream);
      return failure(httpFailureKind(res.status, text), text);
    }
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
        if (chunk.error) {
          const code = (chunk.error as { code?: unknown }).code;
          return failure(`stream_error${typeof code === "string" ? `:${code}` : ""}`, data);
        }
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
  } catch (err) {
    if (timedOut) return failure("timeout", `no complete answer in ${options.timeoutMs} ms`);
    if (err instanceof SyntaxError) return failure("bad_chunk", err.message);
    const code = (err as NodeJS.ErrnoException).code;
    return failure("connection", `${code ?? ""} ${(err as Error).message}`.trim());
  } finally {
    clearTimeout(timer);
  }
  if (!firstSeen) return failure("no_tokens", "the stream carried no chunk with choices");
  if (!done) return failure("truncated_stream", "the stream ended without data: [DONE]");
  const details = usage?.prompt_tokens_details as { cached_tokens?: unknown } | undefined;
  return {
    ok: true,
    ttftMs: ttft,
    itlMs: itl,
    e2eMs: last - st,
    promptTokens:
      typeof usage?.prompt_tokens === "number" ? usage.prompt_tokens : (req.promptLen ?? 0),
    // Without usage the chunks are the best count the client has (one token a chunk).
    outputTokens:
      typeof usage?.completion_tokens === "number" ? usage.completion_tokens : chunksWithChoices,
    cachedTokens: typeof details?.cached_tokens === "number" ? details.cached_tokens : undefined,
    cacheRole: req.cacheRole,
  };
}
