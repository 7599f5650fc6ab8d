/** POST /v1/chat/completions: the request as OpenAI defines it, narrowed to what Bulwark serves. */
import { z } from "zod";
import { generationFields } from "../shared/sampling-params.js";

const textPart = z.strictObject({ type: z.literal("text"), text: z.string() });

const message = z.strictObject({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.union([z.string(), z.array(textPart).min(1), z.null()]),
  name: z.string().max(64).optional(),
});

export const chatRequestSchema = z.strictObject({
  ...generationFields,
  messages: z.array(message).min(1),
  max_completion_tokens: generationFields.max_tokens,
  // Accepted with their neutral values only (checked by the service).
  tools: z.array(z.unknown()).nullable().optional(),
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: z.unknown().optional(),
  store: z.boolean().nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});

export type ChatRequest = z.output<typeof chatRequestSchema>;
