/** Chat completions: messages → the model's chat format → a generation. */
import { BulwarkError } from "../../errors/index.js";
import type { ChatMessage } from "../../engine/index.js";
import type { GatewayDeps, GenerationGate } from "../types.js";
import { generationOptions, type GenerationOptions } from "../shared/sampling-params.js";
import { resolveResponseFormat, type ResolvedFormat } from "../shared/response-format.js";
import { refuseUnsupported } from "../shared/validation.js";
import { startGeneration, type StartedGeneration } from "../shared/generation-service.js";
import type { ChunkRenderer } from "../shared/respond-generation.js";
import { maxTokensCapsFor, resolveModel, testHookFor } from "../shared/models.js";
import { checkLogprobsAllowed } from "../shared/logprobs.js";
import type { ChatRequest } from "./schema.js";
import { chatRenderer } from "./render.js";
import { resolveTools } from "./tools.js";

export interface StartedChat {
  started: StartedGeneration;
  options: GenerationOptions;
  renderer: ChunkRenderer;
}

type Content = ChatRequest["messages"][number]["content"];

function textOf(content: Content | undefined): string {
  if (content == null) return "";
  return typeof content === "string" ? content : content.map((part) => part.text).join("");
}

function flatten(request: ChatRequest): ChatMessage[] {
  return request.messages.map((m): ChatMessage => {
    if (m.role === "tool") {
      return { role: "tool", content: textOf(m.content), toolCallId: m.tool_call_id };
    }
    if (m.role === "assistant") {
      const calls = m.tool_calls ?? [];
      return {
        role: "assistant",
        content: textOf(m.content),
        ...(calls.length > 0
          ? {
              toolCalls: calls.map((c) => ({
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
              })),
            }
          : {}),
      };
    }
    return { role: m.role, content: textOf(m.content) };
  });
}

/** Characters of the messages as the bounds count them (tool-call arguments included). */
function promptChars(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) {
    n += m.content.length;
    for (const c of m.toolCalls ?? []) n += c.name.length + c.arguments.length;
  }
  return n;
}

/** Validates the request against the configured bounds and starts generating. */
export async function startChat(
  deps: GatewayDeps,
  request: ChatRequest,
  requestId: string,
  gate: GenerationGate | null = null,
): Promise<StartedChat> {
  const limits = deps.config.limits;
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
  const chars = promptChars(messages);
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
  if (request.top_logprobs != null && request.logprobs !== true) {
    throw new BulwarkError("invalid_request", "top_logprobs needs logprobs: true.", {
      param: "top_logprobs",
    });
  }
  const logprobs = request.logprobs === true ? (request.top_logprobs ?? 0) : undefined;
  if (logprobs !== undefined) checkLogprobsAllowed(gate, "logprobs");
  const body = { ...request, max_tokens: request.max_completion_tokens ?? request.max_tokens };
  const options = generationOptions(body, limits);
  const model = resolveModel(deps, request.model);
  const nativeFormat = (model.info()?.features.toolCallFormat ?? null) !== null;
  const tools = await resolveTools(
    request.tools,
    request.tool_choice ?? undefined,
    nativeFormat,
    limits,
    deps.grammar,
  );
  let format: ResolvedFormat;
  if (tools && request.response_format && request.response_format.type !== "text") {
    throw new BulwarkError(
      "unsupported_parameter",
      'response_format cannot be combined with tools the model may call; use tool_choice: "none" or leave one out.',
      { param: "response_format" },
    );
  } else if (tools) {
    format = { grammar: tools.grammar, stop: tools.stop };
  } else {
    format = await resolveResponseFormat(request.response_format, limits, deps.grammar);
  }
  const started = await startGeneration({
    requestId,
    model,
    input: { kind: "chat", messages, ...(tools ? { tools: tools.tools } : {}) },
    inputParam: "messages",
    options,
    format,
    maxTokensCaps: maxTokensCapsFor(deps, model),
    logprobs,
    reserveTokens: gate?.reserveTokens,
    priority: gate?.priority,
    testHook: testHookFor(deps, messages.map((m) => m.content).join("\n")),
  });
  const renderer = chatRenderer({
    requestId,
    model: request.model,
    logprobs: logprobs !== undefined,
    tools,
    parallelToolCalls: request.parallel_tool_calls ?? true,
  });
  return { started, options, renderer };
}
