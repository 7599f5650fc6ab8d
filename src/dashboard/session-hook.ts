/**
 * The dashboard's session on the admin listener: a request that carries no API key but the
 * session cookie, from the address that signed in, is authenticated as the session's key,
 * checked again on every request (revoked, expired or turned into a user key ends the
 * session), and a request that changes
 * state must also carry the session's CSRF token in `x-csrf-token`. Runs after the IP filter
 * and before auth, which then checks the route's permission for the key's role as for any key.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { presentedKey, publicKey, type KeyStore } from "../auth/index.js";
import type { Session, SessionStore } from "./session-store.js";

export const SESSION_COOKIE = "bulwark_session";
export const CSRF_HEADER = "x-csrf-token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

declare module "fastify" {
  interface FastifyRequest {
    /** The dashboard session the request came with (set by the session hook). */
    dashboardSession?: Session;
  }
}

/** The value of one cookie of the request, or undefined. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== "string") return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value of a session: HttpOnly, SameSite=Strict, Secure under TLS. */
export function sessionCookie(id: string, secure: boolean, maxAgeSeconds: number): string {
  const attributes = ["Path=/", "HttpOnly", "SameSite=Strict", `Max-Age=${maxAgeSeconds}`];
  if (secure) attributes.push("Secure");
  return `${SESSION_COOKIE}=${id}; ${attributes.join("; ")}`;
}

export interface SessionHookOptions {
  sessions: SessionStore;
  keys: Pick<KeyStore, "get">;
  now: () => number;
}

export function sessionHook(o: SessionHookOptions) {
  return async function dashboardSession(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    if (presentedKey(request.headers) !== undefined) return; // an API client: auth as usual
    const id = readCookie(request, SESSION_COOKIE);
    if (!id) return;
    const session = o.sessions.get(id);
    if (session && session.ip !== request.ctx.clientIp) return; // not where it signed in
    if (!session) {
      void reply.header("set-cookie", sessionCookie("", request.protocol === "https", 0));
      return; // ended: the route answers as without a key
    }
    const stored = o.keys.get(session.keyId);
    const now = o.now();
    const ended =
      !stored ||
      (stored.revokedAt !== null && stored.revokedAt <= now) ||
      (stored.expiresAt !== null && stored.expiresAt <= now) ||
      stored.role === "user";
    if (ended) {
      o.sessions.delete(id);
      void reply.header("set-cookie", sessionCookie("", request.protocol === "https", 0));
      return;
    }
    if (!SAFE_METHODS.has(request.method)) {
      const presented = request.headers[CSRF_HEADER];
      if (!o.sessions.checkCsrf(session, typeof presented === "string" ? presented : undefined)) {
        throw new BulwarkError("csrf_token_invalid");
      }
    }
    request.dashboardSession = session;
    request.ctx.key = publicKey(stored);
  };
}
