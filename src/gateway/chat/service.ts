/** Chat completions: messages → the model's chat format → a generation. */
import { BulwarkError } from "../../errors/index.js";
import type { ChatMessage, FinishReason } from "../../engine/index.js";
import type { GatewayDeps, GenerationGate } from "../types.js";
import { generationOptions, type GenerationOptions } from "../shared/sampling-params.js";
import { resolveResponseFormat } from "../shared/response-format.js";
import { refuseUnsupported } from "../shared/validation.js";
import {
  startGeneration,
  type StartedGeneration,
  type Usage,
} from "../shared/generation-service.js";
import type { ChunkRenderer } from "../shared/respond-generation.js";
import { maxTokensCapsFor, resolveModel, testHookFor } from "../shared/models.js";
import type { ChatRequest } from "./schema.js";

export interface StartedChat {
  started: StartedGeneration;
  options: GenerationOptions;
  renderer: ChunkRenderer;
}

function flatten(request: ChatRequest): ChatMessage[] {
  return request.messages.map((m) => ({
    role: m.role,
    content:
      m.content === null
        ? ""
        : typeof m.content === "string"
          ? m.content
          : m.content.map((part) => part.text).join(""),
  }));
}

/** Validates the request against the configured bounds and starts generating. */
export async function startChat(
  deps: GatewayDeps,
  request: ChatRequest,
  requestId: string,
  gate: GenerationGate | null = null,
): Promise<StartedChat> {
  const limits = deps.config.limits;
  refuseUnsupported("tools", request.tools, (v) => Array.isArray(v) && v.length === 0);
  refuseUnsupported("tool_choice", request.tool_choice, (v) => v === "none");
  refuseUnsupported("store", request.store, (v) => v === false);
  if (request.messages.length > limits.maxMessages) {
    throw new BulwarkError(
      "input_too_large",
      `At most ${limits.maxMessages} messages are allowed.`,
      {
        param: "messages",
      },
    );
  }
  const messages = flatten(request);
  const chars = messages.reduce((n, m) => n + m.content.length, 0);
  if (chars > limits.maxPromptChars) {
    throw new BulwarkError(
      "input_too_large",
      `The messages hold ${chars} characters; at most ${limits.maxPromptChars} are allowed.`,
      { param: "messages" },
    );
  }
  if (request.max_tokens != null && request.max_completion_tokens != null) {
    throw new BulwarkError(
      "invalid_request",
      "Give max_tokens or max_completion_tokens, not both.",
      { param: "max_completion_tokens" },
    );
  }
  const body = { ...request, max_tokens: request.max_completion_tokens ?? request.max_tokens };
  const options = generationOptions(body, limits);
  const model = resolveModel(deps, request.model);
  const format = await resolveResponseFormat(request.response_format, limits, deps.grammar);
  const started = await startGeneration({
    requestId,
    model,
    input: { kind: "chat", messages },
    inputParam: "messages",
    options,
    format,
    maxTokensCaps: maxTokensCapsFor(deps, model),
    reserveTokens: gate?.reserveTokens,
    testHook: testHookFor(deps, messages.map((m) => m.content).join("\n")),
  });
  return { started, options, renderer: chatRenderer(requestId, request.model) };
}

/** OpenAI's chat.completion and chat.completion.chunk objects. */
export function chatRenderer(requestId: string, model: string): ChunkRenderer {
  const id = `chatcmpl-${requestId}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: object, finishReason: FinishReason | null) => ({
    id,
    object: "chat.completion.chunk",
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });
  return {
    // The role goes out with the first token, never alone before it.
    text: (text, first) =>
      chunk(first ? { role: "assistant", content: text } : { content: text }, null),
    finish: (reason, first) =>
      first
        ? [chunk({ role: "assistant", content: "" }, null), chunk({}, reason)]
        : [chunk({}, reason)],
    usage: (usage: Usage) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: null,
      choices: [],
      usage,
    }),
    full: (result) => ({
      id,
      object: "chat.completion",
      created,
      model,
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: result.text, refusal: null },
          logprobs: null,
          finish_reason: result.finishReason,
        },
      ],
      usage: result.usage,
    }),
  };
}
