/**
 * POST /tokenize and /detokenize, the vLLM extension (llama.cpp's server has the same routes with
 * `content` instead of `prompt`; both spellings are accepted).
 */
import { z } from "zod";

const message = z.strictObject({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.string(),
});

export const tokenizeRequestSchema = z
  .strictObject({
    model: z.string().min(1).max(256),
    prompt: z.string().optional(),
    content: z.string().optional(),
    messages: z.array(message).min(1).optional(),
    add_special_tokens: z.boolean().optional(),
  })
  .refine((b) => [b.prompt, b.content, b.messages].filter((v) => v !== undefined).length === 1, {
    message: "give exactly one of prompt, content or messages",
    path: ["prompt"],
  });

export const detokenizeRequestSchema = z.strictObject({
  model: z.string().min(1).max(256),
  tokens: z.array(z.number().int().min(0)),
});
