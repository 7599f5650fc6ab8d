/**
 * The per-key privacy policy on the generation routes: masks PII in prompts before inference
 * and, as the policy says, masks outputs or restores the prompt's placeholders in them.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { MaskVault, maskText } from "./masker.js";
import { MaskingFilter, RestoringFilter } from "./text-filter.js";

type Mapper = (text: string) => string;

function mapContent(content: unknown, f: Mapper): unknown {
  if (typeof content === "string") return f(content);
  if (Array.isArray(content)) {
    return content.map((part: unknown) =>
      part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string"
        ? { ...part, text: f((part as { text: string }).text) }
        : part,
    );
  }
  return content;
}

/** Rewrites the prompt fields of a chat, completion or embeddings body. */
function mapPrompt(body: Record<string, unknown>, f: Mapper): void {
  if (Array.isArray(body.messages)) {
    body.messages = body.messages.map((m: unknown) =>
      m && typeof m === "object"
        ? { ...m, content: mapContent((m as { content?: unknown }).content, f) }
        : m,
    );
  }
  for (const field of ["prompt", "content", "input"]) {
    const v = body[field];
    if (typeof v === "string") body[field] = f(v);
    else if (Array.isArray(v) && v.every((x) => typeof x === "string")) body[field] = v.map(f);
  }
}

export function privacyHook() {
  return async function privacy(request: FastifyRequest): Promise<void> {
    const policy = request.ctx.key?.mask ?? "none";
    const body = request.body;
    if (policy === "none" || !body || typeof body !== "object" || Array.isArray(body)) return;
    if (policy === "reversible") {
      const vault = new MaskVault();
      mapPrompt(body as Record<string, unknown>, (t) => vault.mask(t));
      request.ctx.gate.output = new RestoringFilter(vault);
      return;
    }
    mapPrompt(body as Record<string, unknown>, maskText);
    if (policy === "prompt+output") request.ctx.gate.output = new MaskingFilter();
  };
}

export function installPrivacy(app: FastifyInstance, enabled: boolean): void {
  if (enabled) app.addHook("preHandler", privacyHook());
}
