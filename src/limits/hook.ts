/**
 * The rate-limit edge hook: per-IP and per-key requests per minute and the key's in-flight cap
 * at the edge; tokens per minute and the daily budget once the prompt is tokenized, through
 * the request's generation gate.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { routePolicy } from "../http/index.js";
import type { RateLimiter } from "./rate-limiter.js";

export interface RateLimitHookOptions {
  limiter: RateLimiter;
  /** Told about each 429 (auto-ban counting). */
  onRefused?(ip: string, error: BulwarkError): void;
  /** What the per-address limit counts by (an IPv6 client's network); the address by default. */
  ipSubject?(ip: string): string;
}

function setHeaders(reply: FastifyReply, headers: Record<string, string>): void {
  // On the raw response, so they also go out with a hijacked (streamed) reply.
  for (const [name, value] of Object.entries(headers)) {
    if (!reply.raw.headersSent) reply.raw.setHeader(name, value);
  }
}

export function rateLimitHook(options: RateLimitHookOptions) {
  const { limiter } = options;
  return async function rateLimit(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { ctx } = request;
    // Open routes (the liveness and readiness probes) are never limited.
    if (routePolicy(request).open) return;
    const ip = ctx.clientIp ?? "unknown";
    const refused = (err: unknown) => {
      if (err instanceof BulwarkError && err.status === 429) options.onRefused?.(ip, err);
      return err;
    };
    try {
      await limiter.admitIp(options.ipSubject?.(ip) ?? ip);
    } catch (err) {
      throw refused(err);
    }
    const key = ctx.key;
    if (!key) return;
    let admission;
    try {
      admission = await limiter.admitRequest(key);
    } catch (err) {
      throw refused(err);
    }
    setHeaders(reply, admission.headers);
    let closed = false;
    reply.raw.once("close", () => {
      closed = true;
      admission.release();
    });
    ctx.gate.reserveTokens = async (tokens: number) => {
      let reservation;
      try {
        reservation = await limiter.reserveTokens(key, tokens);
      } catch (err) {
        throw refused(err);
      }
      setHeaders(reply, reservation.headers);
      // A client that left while the reservation was made gets nothing generated.
      if (closed) reservation.settle(0);
      return reservation;
    };
  };
}

export function installRateLimit(
  app: FastifyInstance,
  options: RateLimitHookOptions | undefined,
): void {
  if (options) app.addHook("onRequest", rateLimitHook(options));
}
