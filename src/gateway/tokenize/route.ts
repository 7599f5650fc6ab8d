/** POST /tokenize and POST /detokenize */
import { recordedModel } from "../shared/models.js";
import type { FastifyInstance } from "fastify";
import { BulwarkError } from "../../errors/index.js";
import type { GatewayDeps } from "../types.js";
import { parseBody } from "../shared/validation.js";
import { resolveModel } from "../shared/models.js";
import { detokenizeRequestSchema, tokenizeRequestSchema } from "./schema.js";

export function registerTokenizeRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const limits = deps.config.limits;
  const config = { permission: "inference" } as const;
  app.post("/tokenize", { config }, async (request) => {
    const body = parseBody(tokenizeRequestSchema, request.body);
    request.ctx.record.model = recordedModel(deps, body.model);
    const text = body.prompt ?? body.content;
    const chars = text?.length ?? body.messages!.reduce((n, m) => n + m.content.length, 0);
    if (chars > limits.maxPromptChars) {
      throw new BulwarkError(
        "input_too_large",
        `At most ${limits.maxPromptChars} characters are allowed.`,
        {
          param: body.messages ? "messages" : "prompt",
        },
      );
    }
    if (body.messages && body.messages.length > limits.maxMessages) {
      throw new BulwarkError(
        "input_too_large",
        `At most ${limits.maxMessages} messages are allowed.`,
        {
          param: "messages",
        },
      );
    }
    const model = resolveModel(deps, body.model);
    const prepared = await model.prepare(
      text !== undefined
        ? { kind: "text", text, addSpecial: body.add_special_tokens ?? true }
        : { kind: "chat", messages: body.messages! },
    );
    request.ctx.record.promptTokens = prepared.tokens.length;
    return {
      tokens: prepared.tokens,
      count: prepared.tokens.length,
      max_model_len: model.info()?.contextSize ?? null,
    };
  });
  app.post("/detokenize", { config }, async (request) => {
    const body = parseBody(detokenizeRequestSchema, request.body);
    request.ctx.record.model = recordedModel(deps, body.model);
    const model = resolveModel(deps, body.model);
    const vocabulary = model.info()?.vocabularySize ?? 0;
    const bad = body.tokens.find((t) => vocabulary > 0 && t >= vocabulary);
    if (bad !== undefined) {
      throw new BulwarkError("invalid_request", `Token ${bad} is not in the vocabulary.`, {
        param: "tokens",
      });
    }
    if (body.tokens.length > limits.maxPromptChars) {
      throw new BulwarkError("input_too_large", "Too many tokens.", { param: "tokens" });
    }
    const prompt = await model.detokenize(body.tokens);
    return { prompt, content: prompt };
  });
}
