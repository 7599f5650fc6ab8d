/**
 * Reading a backend's answer: its server-sent events into engine events, and its error
 * answers into the errors the gateway maps. Pure: bytes and JSON in, events and errors out.
 */
import { EngineJobError } from "../errors.js";
import { LineSplitter } from "../text/index.js";
import type { FinishReason, GenerationEvent } from "../types.js";

/** Splits a byte stream of server-sent events into the payloads of their `data:` lines. */
export class SseLines {
  private readonly lines = new LineSplitter();

  /** The complete data payloads in `chunk` (and what earlier chunks left unfinished). */
  push(chunk: Uint8Array): string[] {
    const out: string[] = [];
    for (const line of this.lines.push(chunk)) {
      if (line.startsWith("data:")) out.push(line.slice(5).trim());
      else if (line !== "" && !/^(:|event:|id:|retry:)/.test(line)) {
        throw unreadable("an answer that is not an event stream");
      }
    }
    // A line without end this long is not an event stream.
    if (this.lines.rest.length > 1 << 20) throw unreadable("an event longer than 1 MiB");
    return out;
  }

  /** Text after the last line end: an answer that ends there was cut or is not events. */
  get leftover(): boolean {
    return this.lines.rest.trim() !== "";
  }
}

/** A backend's answer that is not what the protocol says: never shown to the client as is. */
export function unreadable(what: string): EngineJobError {
  return new EngineJobError("backend_error", `The remote backend sent ${what}.`);
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

/** Follows one streamed answer: text events out, usage and the finish reason kept. */
export class AnswerReader {
  private finish: FinishReason | undefined;
  private usage: Usage | undefined;
  private pieces = 0;
  done = false;

  /** The events of one `data:` payload; throws an EngineJobError for an error or garbage. */
  read(payload: string): GenerationEvent[] {
    if (payload === "[DONE]") {
      this.done = true;
      return [];
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(payload);
    } catch {
      throw unreadable("an event that is not JSON");
    }
    if (!chunk || typeof chunk !== "object") throw unreadable("an event that is not an object");
    const c = chunk as Record<string, unknown>;
    if (c.error !== undefined) throw errorOfBody(c, 500);
    if (c.usage && typeof c.usage === "object") this.usage = usageOf(c.usage);
    const events: GenerationEvent[] = [];
    const choices = Array.isArray(c.choices) ? (c.choices as Record<string, unknown>[]) : [];
    for (const choice of choices) {
      if (!choice || typeof choice !== "object") throw unreadable("a choice that is not an object");
      const delta = choice.delta as Record<string, unknown> | undefined;
      const text = typeof choice.text === "string" ? choice.text : delta?.content;
      if (typeof text === "string" && text.length > 0) {
        this.pieces++;
        events.push({ type: "text", text, tokens: 1 });
      }
      const reason = choice.finish_reason;
      if (typeof reason === "string") this.finish = reason === "length" ? "length" : "stop";
    }
    return events;
  }

  /**
   * The `done` event once the stream ended; undefined when it ended before any finish reason
   * (cut off). Counts from the backend's usage, else the pieces seen and `promptTokens`.
   */
  end(promptTokens: number, ms: number): GenerationEvent | undefined {
    if (this.finish === undefined) return undefined;
    return {
      type: "done",
      finishReason: this.finish,
      promptTokens: this.usage?.promptTokens ?? promptTokens,
      completionTokens: this.usage?.completionTokens ?? this.pieces,
      timings: { cachedTokens: this.usage?.cachedTokens ?? 0, promptMs: 0, generationMs: ms },
    };
  }

  get textPieces(): number {
    return this.pieces;
  }
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

function usageOf(usage: object): Usage | undefined {
  const u = usage as Record<string, unknown>;
  const prompt = count(u.prompt_tokens);
  const completion = count(u.completion_tokens);
  if (prompt === undefined || completion === undefined) return undefined;
  const details = u.prompt_tokens_details as Record<string, unknown> | undefined;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    cachedTokens: count(details?.cached_tokens) ?? 0,
  };
}

/** Codes of a backend's 4xx that are the request's fault and pass on as they are. */
const CLIENT_CODES = new Set([
  "context_length_exceeded",
  "invalid_request",
  "unsupported_parameter",
]);

/**
 * The error of a backend's answer with `status`. A 4xx that is the request's fault (too long
 * for the context, a value the backend refuses) is the client's error, with the backend's
 * message; anything else is backend_error with a fixed message: a misconfigured or failing
 * backend's text is for the log, not for clients.
 */
export function errorOfBody(body: unknown, status: number): EngineJobError {
  const error =
    body && typeof body === "object" && "error" in body
      ? (body as { error: unknown }).error
      : undefined;
  const e = error && typeof error === "object" ? (error as Record<string, unknown>) : {};
  const message = typeof e.message === "string" ? e.message.slice(0, 500) : "";
  const code = typeof e.code === "string" ? e.code : "";
  if (status === 400 || status === 413 || status === 422) {
    if (code === "context_length_exceeded" || /context|too long|maximum.*tokens/i.test(message)) {
      return new EngineJobError(
        "context_length_exceeded",
        message || "The prompt and max_tokens do not fit the backend's context.",
      );
    }
    if (CLIENT_CODES.has(code) || status === 400 || status === 422) {
      return new EngineJobError(
        CLIENT_CODES.has(code) ? code : "invalid_request",
        message || "The remote backend refused the request.",
      );
    }
  }
  const failure = new EngineJobError(
    "backend_error",
    `The remote backend answered ${status || "with an error"}.`,
  );
  (failure as EngineJobError & { detail?: string }).detail = message;
  return failure;
}
