/**
 * The generation parameters chat and completions share: their schema, their bounds, and their
 * translation into the engine's SamplingParams. Defaults follow OpenAI (temperature 1, top_p 1).
 */
import { z } from "zod";
import { BulwarkError } from "../../errors/index.js";
import type { Config } from "../../config/index.js";
import type { SamplingParams } from "../../engine/index.js";
import { refuseUnsupported } from "./validation.js";
import { responseFormatSchema } from "./response-format.js";
import { checkMaxTokensLimit } from "./max-tokens.js";

const optional = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

/** Fields both /v1/chat/completions and /v1/completions accept. */
export const generationFields = {
  model: z.string().min(1).max(256),
  max_tokens: optional(z.number().int().min(1)),
  temperature: optional(z.number().min(0).max(2)),
  top_p: optional(z.number().gt(0).max(1)),
  top_k: optional(z.number().int().min(-1)),
  min_p: optional(z.number().min(0).max(1)),
  seed: optional(
    z
      .number()
      .int()
      .min(-(2 ** 53))
      .max(2 ** 53),
  ),
  stop: optional(z.union([z.string(), z.array(z.string())])),
  presence_penalty: optional(z.number().min(-2).max(2)),
  frequency_penalty: optional(z.number().min(-2).max(2)),
  logit_bias: optional(
    z.record(z.string().regex(/^\d+$/, "keys are token ids"), z.number().min(-100).max(100)),
  ),
  response_format: optional(responseFormatSchema),
  ignore_eos: optional(z.boolean()),
  user: optional(z.string().max(512)),
  stream: optional(z.boolean()),
  stream_options: optional(z.strictObject({ include_usage: optional(z.boolean()) })),
  n: optional(z.number().int().min(1)),
  // Known OpenAI parameter accepted only with its neutral value.
  best_of: z.unknown().optional(),
} as const;

export type GenerationFields = z.output<ReturnType<typeof z.object<typeof generationFields>>>;

export interface GenerationOptions {
  sampling: SamplingParams;
  stop: string[];
  maxTokens: number | undefined;
  ignoreEos: boolean;
  stream: boolean;
  includeUsage: boolean;
  /** Choices to generate, each a sequence of its own (n). */
  n: number;
}

type Limits = Config["limits"];

/** Checks bounds and builds the engine-facing options. */
export function generationOptions(body: GenerationFields, limits: Limits): GenerationOptions {
  refuseUnsupported("best_of", body.best_of, (v) => v === 1);
  if (body.n != null && body.n > limits.maxChoices) {
    throw new BulwarkError("input_too_large", `n may be at most ${limits.maxChoices}.`, {
      param: "n",
    });
  }
  if (body.stream_options && !body.stream) {
    throw new BulwarkError(
      "invalid_request",
      "stream_options is only allowed when stream is true.",
      {
        param: "stream_options",
      },
    );
  }
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  if (stop.length > limits.maxStop) {
    throw new BulwarkError(
      "input_too_large",
      `At most ${limits.maxStop} stop strings are allowed.`,
      {
        param: "stop",
      },
    );
  }
  stop.forEach((s, i) => {
    if (s.length > limits.maxStopChars) {
      throw new BulwarkError(
        "input_too_large",
        `A stop string may have at most ${limits.maxStopChars} characters.`,
        { param: `stop[${i}]` },
      );
    }
  });
  const bias = body.logit_bias ?? {};
  const biasEntries = Object.entries(bias);
  if (biasEntries.length > limits.maxLogitBias) {
    throw new BulwarkError(
      "input_too_large",
      `logit_bias may have at most ${limits.maxLogitBias} entries.`,
      {
        param: "logit_bias",
      },
    );
  }
  const logitBias: Record<number, number> = {};
  // OpenAI: -100 bans the token; other values are added to its logit.
  for (const [token, value] of biasEntries)
    logitBias[Number(token)] = value <= -100 ? -Infinity : value;
  checkMaxTokensLimit(body.max_tokens ?? undefined, limits.maxTokens);
  return {
    sampling: {
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      topK: body.top_k == null || body.top_k < 0 ? 0 : body.top_k,
      minP: body.min_p ?? 0,
      // llama.cpp takes a 32-bit seed.
      seed: body.seed == null ? undefined : Number(BigInt.asUintN(32, BigInt(body.seed))),
      presencePenalty: body.presence_penalty ?? 0,
      frequencyPenalty: body.frequency_penalty ?? 0,
      logitBias: biasEntries.length > 0 ? logitBias : undefined,
    },
    stop,
    maxTokens: body.max_tokens ?? undefined,
    ignoreEos: body.ignore_eos ?? false,
    stream: body.stream ?? false,
    includeUsage: body.stream_options?.include_usage ?? false,
    n: body.n ?? 1,
  };
}
