/**
 * What a served model supports, as /v1/models states it for clients that look before they ask:
 * OpenRouter's `supported_parameters` list and `context_length`, and a `capabilities` object
 * (the name LM Studio and Ollama use) with the details. Everything here is true of the running
 * model: the backend's features and the chat format's tool syntax come from its loaded replica
 * (null until it has loaded once).
 */
import type { Config } from "../../config/index.js";
import type { ModelInfo } from "../../engine/index.js";

/** Parameters every model served by Bulwark takes on chat and completions. */
const GENERATION_PARAMETERS = [
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "top_k",
  "min_p",
  "seed",
  "stop",
  "presence_penalty",
  "frequency_penalty",
  "logit_bias",
  "response_format",
  "structured_outputs",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "logprobs",
  "top_logprobs",
  "n",
  "stream",
  "stream_options",
  "user",
  "echo",
] as const;

export function modelCapabilities(info: ModelInfo | undefined, limits: Config["limits"]) {
  const features = info?.features;
  const embeddings = features ? features.embeddings : null;
  return {
    context_length: info?.contextSize ?? null,
    supported_parameters: [
      ...GENERATION_PARAMETERS,
      ...(embeddings ? ["encoding_format", "dimensions"] : []),
    ],
    capabilities: {
      chat: true,
      completion: true,
      embeddings,
      /** Function calling: always available; on the grammar route without a tool format. */
      tools: true,
      tool_choice: ["none", "auto", "required", "function"],
      parallel_tool_calls: features ? features.toolCallFormat !== null : null,
      /** The chat format's own function-call syntax, or null: tools use the grammar route. */
      tool_call_format: features ? features.toolCallFormat : null,
      tool_call_route: features ? (features.toolCallFormat ? "template" : "grammar") : null,
      structured_outputs: true,
      json_mode: true,
      logprobs: true,
      top_logprobs: 20,
      completion_logprobs: 5,
      echo: true,
      prompt_logprobs: features ? features.promptLogprobs : null,
      max_choices: limits.maxChoices,
      max_context_length: info?.contextSize ?? null,
    },
  };
}
