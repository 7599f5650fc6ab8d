/** Looking up the model a request names, and the test-only hook markers. */
import { BulwarkError } from "../../errors/index.js";
import type { GenerationJob, ServedModel } from "../../engine/index.js";
import type { GatewayDeps } from "../types.js";
import type { MaxTokensCaps } from "./max-tokens.js";

/** The served model named by a request, or 404 model_not_found. */
export function resolveModel(deps: GatewayDeps, name: string): ServedModel {
  const entry = deps.models.get(name);
  if (!entry) {
    throw new BulwarkError("model_not_found", `The model '${name}' does not exist.`, {
      param: "model",
    });
  }
  return entry.model;
}

/**
 * The model name a request's log line, usage row and metrics record: the name when it is
 * served, else "unknown". A client-chosen string would otherwise become a usage row and a
 * metrics label per name (unbounded growth), and store whatever text the client put there.
 */
export function recordedModel(deps: GatewayDeps, name: string): string {
  return deps.models.get(name) ? name : "unknown";
}

/**
 * With engine.testHooks on (tests only), a prompt holding a marker asks the worker to hang or
 * crash, so the fault tests can drive the real supervisor. Off, markers are plain text.
 */
export function testHookFor(deps: GatewayDeps, prompt: string): GenerationJob["testHook"] {
  if (!deps.config.engine.testHooks) return undefined;
  if (prompt.includes("[[bulwark-test:hang]]")) return "hang";
  if (prompt.includes("[[bulwark-test:crash]]")) return "crash";
  return undefined;
}

/** The caps on max_tokens for a request to `model`: the configured one and the ladder's. */
export function maxTokensCapsFor(deps: GatewayDeps, model: ServedModel): MaxTokensCaps {
  return { limit: deps.config.limits.maxTokens, pressureCap: deps.guard?.maxTokensCap(model.name) };
}
