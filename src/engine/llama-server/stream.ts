/**
 * llama-server's streamed /completion answer: server-sent events whose data lines are JSON
 * chunks. SseLineParser cuts the byte stream into events; CompletionStream turns chunks into
 * Bulwark's GenerationEvents (text with its token count, then done). Pure, unit tested.
 */
import type { FinishReason, GenerationEvent } from "../types.js";

/** Cuts a stream of UTF-8 bytes into the `data:` payloads of its events. */
export class SseLineParser {
  private buffer = "";
  private readonly decoder = new TextDecoder("utf-8");

  /** Feeds bytes; returns the data payloads completed by them. */
  push(chunk: Uint8Array): string[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    const out: string[] = [];
    let at: number;
    while ((at = this.buffer.indexOf("\n")) !== -1) {
      const line = this.buffer.slice(0, at).replace(/\r$/, "");
      this.buffer = this.buffer.slice(at + 1);
      if (line.startsWith("data:")) out.push(line.slice(5).trimStart());
      else if (line.startsWith("error:")) out.push(line.slice(6).trimStart());
    }
    return out;
  }
}

/** One JSON chunk of the stream (the fields Bulwark reads). */
export interface CompletionChunk {
  content?: string;
  tokens?: number[];
  stop?: boolean;
  stop_type?: string;
  tokens_predicted?: number;
  tokens_evaluated?: number;
  timings?: { cache_n?: number; prompt_ms?: number; predicted_ms?: number };
  error?: { code?: number; message?: string; type?: string };
}

/** What one chunk means for the job. */
export type ChunkOutcome =
  | { kind: "events"; events: GenerationEvent[]; finished: boolean }
  | { kind: "error"; status: number; message: string; type: string };

/**
 * Maps the chunks of one job. Stop tokens of the chat format that llama.cpp does not know as
 * end-of-generation end the job here: the chunk that holds one is dropped and the job is done
 * with finishReason "stop" (the caller then closes the request, which frees the slot).
 */
export class CompletionStream {
  private completionTokens = 0;
  private finished = false;

  constructor(
    private readonly promptTokens: number,
    private readonly stopTokens: ReadonlySet<number>,
  ) {}

  /** Completion tokens seen so far. */
  get tokens(): number {
    return this.completionTokens;
  }

  get done(): boolean {
    return this.finished;
  }

  push(chunk: CompletionChunk): ChunkOutcome {
    if (this.finished) return { kind: "events", events: [], finished: true };
    if (chunk.error) {
      this.finished = true;
      return {
        kind: "error",
        status: chunk.error.code ?? 500,
        message: chunk.error.message ?? "llama-server reported an error",
        type: chunk.error.type ?? "server_error",
      };
    }
    const events: GenerationEvent[] = [];
    const tokens = chunk.tokens ?? [];
    const stopAt = tokens.findIndex((t) => this.stopTokens.has(t));
    if (stopAt !== -1) {
      // Text before the stop token in the same chunk is not separable from it; llama-server
      // sends one token a chunk, so there is none in practice.
      this.completionTokens += stopAt;
      if (stopAt > 0 && chunk.content) {
        events.push({ type: "text", text: chunk.content, tokens: stopAt });
      }
      events.push(this.doneEvent("stop", chunk));
      this.finished = true;
      return { kind: "events", events, finished: true };
    }
    if (chunk.content || tokens.length > 0) {
      this.completionTokens += tokens.length;
      events.push({ type: "text", text: chunk.content ?? "", tokens: tokens.length });
    }
    if (chunk.stop) {
      events.push(this.doneEvent(finishReasonOf(chunk), chunk));
      this.finished = true;
    }
    return { kind: "events", events, finished: this.finished };
  }

  private doneEvent(finishReason: FinishReason, chunk: CompletionChunk): GenerationEvent {
    const timings = chunk.timings ?? {};
    return {
      type: "done",
      finishReason,
      promptTokens: chunk.tokens_evaluated ?? this.promptTokens,
      completionTokens: this.completionTokens,
      timings: {
        cachedTokens: timings.cache_n ?? 0,
        promptMs: timings.prompt_ms ?? 0,
        generationMs: timings.predicted_ms ?? 0,
      },
    };
  }
}

/** llama-server's stop_type: "eos" and "word" are stops, "limit" is the length cap. */
export function finishReasonOf(chunk: CompletionChunk): FinishReason {
  return chunk.stop_type === "limit" ? "length" : "stop";
}
