/**
 * What every per-request line says (the stdout request log, the access log file, the request
 * metrics), built in one place so that they agree: the status is the one sent, or 499 when the
 * client went away before the response finished (nginx's code for it).
 */
import type { ServerResponse } from "node:http";
import type { FastifyRequest } from "fastify";

/**
 * Whether the whole response went out. A response of Fastify's inject() (a batch line run by
 * the server itself, src/batch/) has no socket to drain, so its end is its last write.
 */
function delivered(res: ServerResponse): boolean {
  return res.writableFinished || ("_lightMyRequest" in res && res.writableEnded);
}

/** The status a request ended with: 499 when the client left before the response was out. */
export function responseStatus(res: ServerResponse): number {
  return delivered(res) ? res.statusCode : 499;
}

/** The fields the request log and the access log share. */
export interface RequestLine {
  reqId: string;
  method: string;
  path: string;
  status: number;
  model?: string;
  stream?: boolean;
  promptTokens?: number;
  completionTokens?: number;
  /** Time to first token in ms, to 0.01 ms. */
  ttftMs?: number;
  errorCode?: string;
  /** What the response cache did: hit, semantic-hit, miss or bypass. */
  cache?: string;
  /** Set when the client went away before the response finished. */
  clientGone?: true;
  /** The batch whose line this request is (src/batch/). */
  batch?: string;
}

const hundredths = (ms: number) => Math.round(ms * 100) / 100;

/** The line of a request whose response has closed. */
export function requestLine(request: FastifyRequest, res: ServerResponse): RequestLine {
  const r = request.ctx.record;
  return {
    reqId: request.id,
    method: request.method,
    path: request.ctx.path,
    status: responseStatus(res),
    model: r.model,
    stream: r.stream,
    promptTokens: r.promptTokens,
    completionTokens: r.completionTokens,
    ttftMs: r.ttftMs === undefined ? undefined : hundredths(r.ttftMs),
    errorCode: r.errorCode,
    cache: r.cache,
    clientGone: delivered(res) ? undefined : true,
    batch: request.ctx.batch?.batchId,
  };
}

/** Milliseconds since `startedAt` (a performance.now() reading), to 0.01 ms. */
export function elapsedMs(startedAt: number): number {
  return hundredths(performance.now() - startedAt);
}
