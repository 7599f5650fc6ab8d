/**
 * The request context: everything Bulwark learns about one request on its way through the edge,
 * declared here and nowhere else. The first hook of every listener creates it; each edge hook
 * fills its own part once (the IP filter the client address, auth the key, the rate limiter and
 * the privacy policy the generation gate), and routes and log lines read it.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { KeyRecord } from "../auth/index.js";

/** Tokens held for one generation; settled once with what it really used. */
export interface GenerationReservation {
  settle(usedTokens: number): void;
}

/** Transforms generated text that arrives in pieces (PII masking, placeholder restore). */
export interface OutputFilter {
  push(text: string): string;
  end(): string;
  reset(): void;
  /** A new filter with the same policy and no buffered text (one per choice when n > 1). */
  fork?(): OutputFilter;
}

/** What edge hooks attach to a request for the generation path. */
export interface GenerationGate {
  /** Called with the tokens to hold (prompt + max_tokens, or an embedding's bound); throws to
   * refuse. */
  reserveTokens?(tokens: number): Promise<GenerationReservation>;
  output?: OutputFilter;
  /** The admission priority of its generations (src/scheduler/): a batch line's is below 0. */
  priority?: number;
}

/** Per-request facts collected for the request's log lines and metrics. */
export interface RequestRecord {
  /** performance.now() when the request arrived. */
  startedAt: number;
  clientRequestId?: string;
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** Prompt tokens the worker found in its KV cache (the prefix cache). */
  cachedTokens?: number;
  ttftMs?: number;
  errorCode?: string;
  stream?: boolean;
  finishReason?: string;
  /** Text pieces streamed so far (the token count of a stream cut short). */
  streamedPieces?: number;
  /** What the response cache did: hit, semantic-hit, miss, or bypass (neither read nor written). */
  cache?: "hit" | "miss" | "bypass" | "semantic-hit";
}

export interface RequestContext {
  /** The request's path without the query string, as the router matched it. */
  readonly path: string;
  /** The client address after the trusted-proxy rules (set by the IP filter). */
  clientIp?: string;
  /** The authenticated key (set by auth); undefined on open routes or with auth off. */
  key?: KeyRecord;
  /** Token reservation and output filter for the generation routes (rate limits, privacy). */
  readonly gate: GenerationGate;
  readonly record: RequestRecord;
  /** Set when the request is a line of a batch the server runs itself (src/batch/). */
  batch?: { batchId: string; customId: string };
}

declare module "fastify" {
  interface FastifyRequest {
    /** The request context (src/http/context.ts). */
    ctx: RequestContext;
  }
}

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function createContext(request: FastifyRequest): RequestContext {
  const clientId = request.headers["x-request-id"];
  return {
    path: request.url.split("?")[0] ?? "/",
    gate: {},
    record: {
      startedAt: performance.now(),
      clientRequestId:
        typeof clientId === "string" && CLIENT_ID.test(clientId) ? clientId : undefined,
    },
  };
}

/** Gives every request its context in the app's first hook; the hooks after it may rely on it. */
export function installRequestContext(app: FastifyInstance): void {
  app.decorateRequest("ctx", null as never);
  app.addHook("onRequest", (request, _reply, done) => {
    request.ctx = createContext(request);
    done();
  });
}
