/**
 * Reading llama-server's answer to a streamed /completion: an error body mapped to an engine
 * error, or server-sent events parsed into completion chunks.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { EngineJobError } from "../errors.js";
import { llamaSourceDir } from "./binary.js";
import { errorFrom, type ServerHttpError } from "./client.js";
import { SseLineParser, type CompletionChunk } from "./stream.js";

let jsonGrammarText: string | undefined;
/** llama.cpp's JSON grammar (response_format json_object). */
export function jsonGrammar(): string {
  jsonGrammarText ??= readFileSync(join(llamaSourceDir(), "grammars", "json.gbnf"), "utf8");
  return jsonGrammarText;
}

/** Engine error codes for llama-server's 4xx answers; anything else is an internal error. */
export function jobErrorFrom(err: ServerHttpError): EngineJobError {
  if (err.type === "exceed_context_size_error") {
    return new EngineJobError("context_length_exceeded", err.message);
  }
  if (err.status === 400 && /grammar/i.test(err.message)) {
    return new EngineJobError("invalid_grammar", err.message);
  }
  return new EngineJobError("internal_error", `llama-server: ${err.message}`);
}

/** What reading one job's completion response reports to its replica. */
export interface CompletionHandlers {
  /** Whether the job still runs (chunks for an ended job are dropped). */
  active(): boolean;
  onChunk(chunk: CompletionChunk): void;
  /** The job ends with this engine error. */
  end(err: Error): void;
  /** The transfer broke: the replica decides whether the process's death explains it. */
  fail(err: Error): void;
}

export function readCompletion(res: IncomingMessage, handlers: CompletionHandlers): void {
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    const parts: Buffer[] = [];
    res.on("data", (c: Buffer) => parts.push(c));
    res.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        body = undefined;
      }
      handlers.end(jobErrorFrom(errorFrom(status, body)));
    });
    return;
  }
  const parser = new SseLineParser();
  res.on("data", (bytes: Buffer) => {
    if (!handlers.active()) return;
    for (const payload of parser.push(bytes)) {
      if (payload === "[DONE]") continue;
      let chunk: CompletionChunk;
      try {
        chunk = JSON.parse(payload) as CompletionChunk;
      } catch {
        handlers.end(new EngineJobError("internal_error", "llama-server sent bad JSON"));
        return;
      }
      handlers.onChunk(chunk);
      if (!handlers.active()) return;
    }
  });
  res.on("end", () => {
    if (handlers.active()) handlers.fail(new Error("the stream ended before its last chunk"));
  });
  res.on("error", (err) => handlers.fail(err));
}
