/**
 * What streamed (stream-request.ts) and plain (plain-request.ts) bench requests share: the
 * options, the request body, the per-request timer, the classification of failures, and the
 * reading of the usage object.
 */
import type { HttpTarget, OpenResponse } from "./http.js";
import { postJson, readText } from "./http.js";
import type { BenchRequest } from "./datasets.js";
import type { RequestOutcome } from "./metrics.js";

export interface SendOptions {
  model: string;
  endpoint: "completions" | "chat";
  ignoreEos: boolean;
  temperature?: number;
  /**
   * Fields added to every request body, last, so they win (`--extra-body`): a server's own
   * parameters, the same for each server in a comparison.
   */
  extraBody?: Record<string, unknown>;
  /** Per-request limit in ms; the request is aborted and counted as a "timeout" failure. */
  timeoutMs: number;
}

/** An outcome before the runner adds its start and queue times. */
export type Timed = Omit<RequestOutcome, "startMs" | "queueMs">;

export function failure(kind: string, message: string, partial: Partial<Timed> = {}): Timed {
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

/** The request body for one prompt, streamed (with usage in the stream) or not. */
export function requestBody(
  req: BenchRequest,
  options: SendOptions,
  stream = true,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: options.model,
    max_tokens: req.outputLen,
    stream,
  };
  if (stream) body.stream_options = { include_usage: true };
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
  if (options.extraBody) Object.assign(body, options.extraBody);
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

/** The code of an OpenAI-shaped error object, as a ":code" suffix, or "". */
export function errorCodeSuffix(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? `:${code}` : "";
}

/**
 * Sends one request with the per-request timer. A non-200 answer fails as httpFailureKind; a
 * 200 answer goes to `read` with the time the request was sent; an exception while sending or
 * reading fails as "timeout", "bad_chunk" (JSON that does not parse) or "connection".
 */
export async function sendTimed(
  target: HttpTarget,
  req: BenchRequest,
  options: SendOptions,
  stream: boolean,
  read: (res: OpenResponse, sentAt: number) => Promise<Timed>,
): Promise<Timed> {
  const path = options.endpoint === "chat" ? "/v1/chat/completions" : "/v1/completions";
  const body = requestBody(req, options, stream);
  const controller = new AbortController();
  let timedOut = false;
  // Our own timer: AbortSignal.timeout can fail to fire after GC on Node 20.
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const sentAt = performance.now();
  try {
    const res = await postJson(target, path, body, controller.signal);
    if (res.status !== 200) {
      const text = await readText(res.stream);
      return failure(httpFailureKind(res.status, text), text);
    }
    const outcome = await read(res, sentAt);
    const cache = res.stream.headers["x-bulwark-cache"];
    return typeof cache === "string" ? { ...outcome, responseCache: cache } : outcome;
  } catch (err) {
    if (timedOut) return failure("timeout", `no complete answer in ${options.timeoutMs} ms`);
    if (err instanceof SyntaxError) return failure("bad_chunk", err.message);
    const code = (err as NodeJS.ErrnoException).code;
    return failure("connection", `${code ?? ""} ${(err as Error).message}`.trim());
  } finally {
    clearTimeout(timer);
  }
}

/** The token counts of a completed request from its usage object (when the server sent one). */
export function usageCounts(
  usage: Record<string, unknown> | undefined,
  req: BenchRequest,
  fallbackOutputTokens: number,
): Pick<Timed, "promptTokens" | "outputTokens" | "cachedTokens" | "cacheRole"> {
  const details = usage?.prompt_tokens_details as { cached_tokens?: unknown } | undefined;
  return {
    promptTokens:
      typeof usage?.prompt_tokens === "number" ? usage.prompt_tokens : (req.promptLen ?? 0),
    outputTokens:
      typeof usage?.completion_tokens === "number" ? usage.completion_tokens : fallbackOutputTokens,
    cachedTokens: typeof details?.cached_tokens === "number" ? details.cached_tokens : undefined,
    cacheRole: req.cacheRole,
  };
}
