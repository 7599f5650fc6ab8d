/** POST /v1/chat/completions: the request as OpenAI defines it, narrowed to what Bulwark serves. */
import { z } from "zod";
import { generationFields } from "../shared/sampling-params.js";
import { toolChoiceSchema, toolSchema } from "./tools.js";

const textPart = z.strictObject({ type: z.literal("text"), text: z.string() });
const content = z.union([z.string(), z.array(textPart).min(1), z.null()]);

const toolCall = z.strictObject({
  id: z.string().min(1).max(256),
  type: z.literal("function"),
  function: z.strictObject({ name: z.string().min(1).max(64), arguments: z.string() }),
});

const message = z.discriminatedUnion("role", [
  z.strictObject({
    role: z.enum(["system", "developer", "user"]),
    content,
    name: z.string().max(64).optional(),
  }),
  z.strictObject({
    role: z.literal("assistant"),
    content: content.optional(),
    name: z.string().max(64).optional(),
    tool_calls: z.array(toolCall).nullable().optional(),
    refusal: z.string().nullable().optional(),
  }),
  z.strictObject({
    role: z.literal("tool"),
    content,
    tool_call_id: z.string().min(1).max(256),
  }),
]);

export const chatRequestSchema = z.strictObject({
  ...generationFields,
  messages: z.array(message).min(1),
  max_completion_tokens: generationFields.max_tokens,
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  tools: z.array(toolSchema).nullable().optional(),
  tool_choice: toolChoiceSchema.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  // Accepted with their neutral values only (checked by the service).
  store: z.boolean().nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});

export type ChatRequest = z.output<typeof chatRequestSchema>;
