/** Embeddings: each input → one vector from the model's embedding context. */
import { BulwarkError } from "../../errors/index.js";
import type { PromptInput } from "../../engine/index.js";
import type { GatewayDeps, GenerationGate } from "../types.js";
import { resolveModel } from "../shared/models.js";
import type { EmbeddingRequest } from "./schema.js";

function inputs(input: EmbeddingRequest["input"]): PromptInput[] {
  if (typeof input === "string") return [{ kind: "text", text: input, addSpecial: true }];
  if (typeof input[0] === "number") return [{ kind: "tokens", tokens: input as number[] }];
  return (input as (string | number[])[]).map((item) =>
    typeof item === "string"
      ? { kind: "text", text: item, addSpecial: true }
      : { kind: "tokens", tokens: item },
  );
}

/** Float32 little-endian bytes in base64, as OpenAI's encoding_format "base64". */
function toBase64(vector: number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString("base64");
}

/**
 * The most tokens an input can make: its tokens, or one per UTF-8 byte (byte-fallback
 * tokenizers never make more) plus BOS and EOS.
 */
function tokenBound(input: PromptInput): number {
  if (input.kind === "tokens") return input.tokens.length;
  if (input.kind === "text") return Buffer.byteLength(input.text, "utf8") + 2;
  return 0;
}

/** The vectors of a request, one per input, and the prompt tokens they took. */
export interface ComputedEmbeddings {
  vectors: number[][];
  promptTokens: number;
}

/** Checks the request against the bounds and the model, and embeds every input. */
export async function computeEmbeddings(
  deps: GatewayDeps,
  request: EmbeddingRequest,
  reserveTokens?: GenerationGate["reserveTokens"],
): Promise<ComputedEmbeddings> {
  const limits = deps.config.limits;
  const list = inputs(request.input);
  if (list.length > limits.maxEmbeddingInputs) {
    throw new BulwarkError(
      "input_too_large",
      `At most ${limits.maxEmbeddingInputs} inputs are allowed in one request.`,
      { param: "input" },
    );
  }
  const model = resolveModel(deps, request.model);
  const info = model.info();
  if (request.dimensions != null && request.dimensions !== info?.embeddingSize) {
    throw new BulwarkError(
      "unsupported_parameter",
      `This model's embeddings have ${info?.embeddingSize ?? "a fixed number of"} dimensions; dimensions cannot change it.`,
      { param: "dimensions" },
    );
  }
  for (const [i, item] of list.entries()) {
    const size =
      item.kind === "text" ? item.text.length : item.kind === "tokens" ? item.tokens.length : 0;
    if (size > limits.maxPromptChars) {
      throw new BulwarkError("input_too_large", "An input is over the prompt bound.", {
        param: list.length === 1 ? "input" : `input[${i}]`,
      });
    }
    // Token ids outside the vocabulary and inputs over the context fail in llama_decode: they
    // are the client's mistake, answered 400 here rather than 500 from the engine.
    if (item.kind === "tokens") {
      const param = list.length === 1 ? "input" : `input[${i}]`;
      const vocabulary = info?.vocabularySize ?? 0;
      const bad = item.tokens.find((t) => vocabulary > 0 && t >= vocabulary);
      if (bad !== undefined) {
        throw new BulwarkError("invalid_request", `Token ${bad} is not in the vocabulary.`, {
          param,
        });
      }
      const context = info?.contextSize ?? 0;
      if (context > 0 && item.tokens.length > context) {
        throw new BulwarkError(
          "context_length_exceeded",
          `An input has ${item.tokens.length} tokens; this model's context holds ${context}.`,
          { param },
        );
      }
    }
    if (item.kind === "text" && item.text.length === 0) {
      throw new BulwarkError("invalid_request", "An input is empty.", {
        param: list.length === 1 ? "input" : `input[${i}]`,
      });
    }
  }
  // The key's token limit holds the bound until the real count is known.
  const reservation = await reserveTokens?.(list.reduce((n, item) => n + tokenBound(item), 0));
  let result;
  try {
    result = await model.embed(list);
  } catch (err) {
    reservation?.settle(0);
    throw err;
  }
  reservation?.settle(result.promptTokens);
  return { vectors: result.embeddings, promptTokens: result.promptTokens };
}

/** OpenAI's embeddings list, the vectors encoded as the request asks. */
export function embeddingsResponse(request: EmbeddingRequest, computed: ComputedEmbeddings) {
  const base64 = request.encoding_format === "base64";
  return {
    object: "list",
    data: computed.vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: base64 ? toBase64(vector) : vector,
    })),
    model: request.model,
    usage: { prompt_tokens: computed.promptTokens, total_tokens: computed.promptTokens },
  };
}

export async function createEmbeddings(
  deps: GatewayDeps,
  request: EmbeddingRequest,
  reserveTokens?: GenerationGate["reserveTokens"],
) {
  return embeddingsResponse(request, await computeEmbeddings(deps, request, reserveTokens));
}
