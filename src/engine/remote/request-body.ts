/**
 * A job as the request an OpenAI-compatible server takes: /chat/completions for messages,
 * /completions for text or token ids, always streamed with the usage chunk asked for, so the
 * token counts come from the backend. What only Bulwark's own engines do is refused here with
 * unsupported_parameter, before anything is sent (docs/architecture.md, Remote backends).
 */
import { EngineJobError } from "../errors.js";
import type { ChatMessage, GenerationJob, PromptInput } from "../types.js";

export interface BackendCall {
  path: "/chat/completions" | "/completions";
  body: Record<string, unknown>;
}

function unsupported(what: string): EngineJobError {
  return new EngineJobError(
    "unsupported_parameter",
    `${what} is not available for a model served by a remote backend.`,
  );
}

function message(m: ChatMessage): Record<string, unknown> {
  return {
    role: m.role,
    content: m.content,
    ...(m.toolCalls
      ? {
          tool_calls: m.toolCalls.map((c) => ({
            id: c.id,
            type: "function",
            function: { name: c.name, arguments: c.arguments },
          })),
        }
      : {}),
    ...(m.toolCallId ? { tool_call_id: m.toolCallId } : {}),
  };
}

/** The prompt part of the request: messages, text, or token ids (the backend's own). */
function promptOf(input: PromptInput): Pick<BackendCall, "path"> & Record<string, unknown> {
  switch (input.kind) {
    case "chat":
      if (input.tools && input.tools.length > 0) throw unsupported("tools");
      return { path: "/chat/completions", messages: input.messages.map(message) };
    case "text":
      return { path: "/completions", prompt: input.text };
    case "tokens":
      return { path: "/completions", prompt: input.tokens };
  }
}

/** The streamed request for `job` on a backend that knows the model as `model`. */
export function backendCall(job: GenerationJob, model: string): BackendCall {
  const input = job.prompt.input ?? { kind: "tokens", tokens: job.prompt.tokens };
  if (job.grammar?.kind === "gbnf") throw unsupported("A JSON schema or grammar");
  if (job.logprobs !== undefined || job.promptLogprobs) throw unsupported("logprobs");
  if (job.resume) throw unsupported("Resuming a stream");
  const { path, ...prompt } = promptOf(input);
  const s = job.sampling;
  const body: Record<string, unknown> = {
    model,
    ...prompt,
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: job.maxTokens,
    temperature: s.temperature,
    top_p: s.topP,
    presence_penalty: s.presencePenalty,
    frequency_penalty: s.frequencyPenalty,
    ...(s.seed !== undefined ? { seed: s.seed } : {}),
    ...(job.stop.length > 0 ? { stop: job.stop } : {}),
    ...(s.logitBias && Object.keys(s.logitBias).length > 0
      ? { logit_bias: finiteBias(s.logitBias) }
      : {}),
    ...(job.grammar?.kind === "json" ? { response_format: { type: "json_object" } } : {}),
  };
  return { path, body };
}

/** OpenAI's logit_bias is -100..100; -Infinity (a forbidden token) is sent as -100. */
function finiteBias(bias: Record<number, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [token, value] of Object.entries(bias))
    out[token] = Math.max(-100, Math.min(100, value));
  return out;
}
