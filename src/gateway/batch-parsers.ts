/**
 * The live endpoints' body parsers, as the batch input check uses them: a batch line is valid
 * exactly when the same body sent live would pass validation.
 */
import type { BatchEndpoint, BodyParser } from "../batch/index.js";
import { chatRequestSchema } from "./chat/schema.js";
import { completionRequestSchema } from "./completions/schema.js";
import { embeddingRequestSchema } from "./embeddings/schema.js";
import { parseBody } from "./shared/validation.js";

export const batchBodyParsers: Readonly<Record<BatchEndpoint, BodyParser>> = {
  "/v1/chat/completions": (body) => parseBody(chatRequestSchema, body),
  "/v1/completions": (body) => parseBody(completionRequestSchema, body),
  "/v1/embeddings": (body) => parseBody(embeddingRequestSchema, body),
};
