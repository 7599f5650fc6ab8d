/** POST /v1/embeddings */
import { z } from "zod";

const tokenArray = z.array(z.number().int().min(0)).min(1);

export const embeddingRequestSchema = z.strictObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).min(1), tokenArray, z.array(tokenArray).min(1)]),
  encoding_format: z.enum(["float", "base64"]).nullable().optional(),
  dimensions: z.number().int().min(1).nullable().optional(),
  user: z.string().max(512).nullable().optional(),
});

export type EmbeddingRequest = z.output<typeof embeddingRequestSchema>;
