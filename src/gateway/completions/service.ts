/** Text completions: a prompt (text or token ids) → a generation. */
import { BulwarkError } from "../../errors/index.js";
import type { PromptInput } from "../../engine/index.js";
import type { GatewayDeps, GenerationGate } from "../types.js";
import { generationOptions, type GenerationOptions } from "../shared/sampling-params.js";
import { resolveResponseFormat } from "../shared/response-format.js";
import { refuseUnsupported } from "../shared/validation.js";
import { startGeneration, type StartedGeneration } from "../shared/generation-service.js";
import type { ChunkRenderer } from "../shared/respond-generation.js";
import { maxTokensCapsFor, resolveModel, testHookFor } from "../shared/models.js";
import { checkLogprobsAllowed } from "../shared/logprobs.js";
import type { CompletionRequest } from "./schema.js";
import { completionRenderer } from "./render.js";

export interface StartedCompletion {
  started: StartedGeneration;
  options: GenerationOptions;
  renderer: ChunkRenderer;
}

/** One prompt per request: a list of several prompts is n > 1 in disguise. */
function promptInput(prompt: CompletionRequest["prompt"]): PromptInput {
  if (typeof prompt === "string") return { kind: "text", text: prompt, addSpecial: true };
  if (prompt.length > 1 && (typeof prompt[0] === "string" || Array.isArray(prompt[0]))) {
    throw new BulwarkError(
      "unsupported_parameter",
      "Only one prompt per request is supported; send one request per prompt.",
      { param: "prompt" },
    );
  }
  const only = prompt[0]!;
  if (typeof only === "string") return { kind: "text", text: only, addSpecial: true };
  if (Array.isArray(only)) return { kind: "tokens", tokens: only };
  return { kind: "tokens", tokens: prompt as number[] };
}

export async function startCompletion(
  deps: GatewayDeps,
  request: CompletionRequest,
  requestId: string,
  gate: GenerationGate | null = null,
): Promise<StartedCompletion> {
  const limits = deps.config.limits;
  refuseUnsupported("suffix", request.suffix, (v) => v === "");
  const input = promptInput(request.prompt);
  const size =
    input.kind === "text" ? input.text.length : input.kind === "tokens" ? input.tokens.length : 0;
  if (size > limits.maxPromptChars) {
    throw new BulwarkError(
      "input_too_large",
      `The prompt has ${size} ${input.kind === "text" ? "characters" : "tokens"}; at most ${limits.maxPromptChars} are allowed.`,
      { param: "prompt" },
    );
  }
  const logprobs = request.logprobs ?? undefined;
  if (logprobs !== undefined) checkLogprobsAllowed(gate, "logprobs");
  const echo = request.echo === true;
  if (request.max_tokens === 0 && !echo) {
    throw new BulwarkError("invalid_request", "max_tokens 0 is only allowed with echo.", {
      param: "max_tokens",
    });
  }
  const options = generationOptions(request, limits);
  const model = resolveModel(deps, request.model);
  if (input.kind === "tokens") {
    const vocabulary = model.info()?.vocabularySize ?? 0;
    const bad = input.tokens.find((t) => vocabulary > 0 && t >= vocabulary);
    if (bad !== undefined) {
      throw new BulwarkError("invalid_request", `Token ${bad} is not in the vocabulary.`, {
        param: "prompt",
      });
    }
  }
  const promptLogprobs = echo && logprobs !== undefined;
  if (promptLogprobs && model.info()?.features.promptLogprobs === false) {
    throw new BulwarkError(
      "unsupported_parameter",
      "This model's engine backend reports no log-probabilities for prompt tokens: echo with logprobs needs the node-llama-cpp backend.",
      { param: "echo" },
    );
  }
  const format = await resolveResponseFormat(request.response_format, limits, deps.grammar);
  const echoText = !echo
    ? undefined
    : input.kind === "text"
      ? input.text
      : await model.detokenize(input.kind === "tokens" ? input.tokens : []);
  const started = await startGeneration({
    requestId,
    model,
    input,
    inputParam: "prompt",
    options,
    format,
    maxTokensCaps: maxTokensCapsFor(deps, model),
    logprobs,
    promptLogprobs,
    reserveTokens: gate?.reserveTokens,
    priority: gate?.priority,
    testHook: testHookFor(deps, input.kind === "text" ? input.text : ""),
  });
  // OpenAI's legacy default is 16 tokens; Bulwark lets the context decide, like vLLM.
  return {
    started,
    options,
    renderer: completionRenderer({ requestId, model: request.model, logprobs, echo: echoText }),
  };
}
