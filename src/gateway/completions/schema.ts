/** POST /v1/completions: the legacy text completion request. */
import { z } from "zod";
import { generationFields } from "../shared/sampling-params.js";

const tokenArray = z.array(z.number().int().min(0)).min(1);

export const completionRequestSchema = z.strictObject({
  ...generationFields,
  // 0 only with echo: the prompt is scored (logprobs) or returned, nothing generated.
  max_tokens: z.number().int().min(0).nullable().optional(),
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenArray, z.array(tokenArray).min(1)]),
  echo: z.boolean().nullable().optional(),
  logprobs: z.number().int().min(0).max(5).nullable().optional(),
  suffix: z.string().nullable().optional(),
});

export type CompletionRequest = z.output<typeof completionRequestSchema>;
