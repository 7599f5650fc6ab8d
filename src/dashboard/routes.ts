/**
 * The dashboard's routes on the admin listener: the page and its assets (open: they hold no
 * data), login and logout, the session's own details, and the paged reads that are not on the
 * live feed (usage per key from the per-minute rollups, the audit log's tail). Every other
 * action the page takes goes to the admin API's own routes with the session cookie and the
 * CSRF token, so the roles and the audit entries are the API's.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import type { Authenticator, KeyRecord, KeyStore } from "../auth/index.js";
import type { AuditLog, UsageReader } from "../audit/index.js";
import type { AuditAppend } from "../admin/admin-app.js";
import { SESSION_COOKIE, readCookie, sessionCookie } from "./session-hook.js";
import type { SessionStore } from "./session-store.js";
import { SECURITY_HEADERS, type StaticFile } from "./static-files.js";

export interface DashboardRouteDeps {
  sessions: SessionStore;
  authenticator: Authenticator;
  keys: Pick<KeyStore, "list">;
  /** This home's usage, or the fleet's with state.backend redis. */
  usage: UsageReader;
  audit: AuditLog;
  append: AuditAppend;
  /** Counts a failed login against the client's address (auto-bans), as the admin auth does. */
  countFailure: (ip: string, error: BulwarkError) => void;
  sessionMaxAgeMs: number;
  /** Secure cookies on plain HTTP too (a TLS proxy in front). */
  secureCookie: boolean;
  assets: ReadonlyMap<string, StaticFile>;
  now: () => number;
}

const secure = (request: FastifyRequest, always: boolean) => always || request.protocol === "https";

const USAGE_WINDOWS: Record<string, number> = { hour: 60, day: 24 * 60 };
const MAX_PAGE_SIZE = 100;

function intParam(value: unknown, name: string, fallback: number, min: number, max: number) {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BulwarkError("invalid_request", `${name} must be an integer from ${min} to ${max}.`, {
      param: name,
    });
  }
  return n;
}

function sendFile(reply: FastifyReply, file: StaticFile | undefined): FastifyReply {
  if (!file) throw new BulwarkError("not_found", "The dashboard's files are not installed.");
  return reply.headers(SECURITY_HEADERS).type(file.type).send(file.body);
}

/** Registers the dashboard's page, login and paged reads. */
export function dashboardRoutes(deps: DashboardRouteDeps) {
  return (app: FastifyInstance): void => {
    const open = { config: { permission: "public" as const } };
    const page = (_request: FastifyRequest, reply: FastifyReply) =>
      sendFile(reply, deps.assets.get("index.html"));
    app.get("/dashboard", open, page);
    app.get("/dashboard/", open, page);
    app.get<{ Params: { name: string } }>("/dashboard/assets/:name", open, (request, reply) =>
      sendFile(
        reply,
        request.params.name === "index.html" ? undefined : deps.assets.get(request.params.name),
      ),
    );

    app.post("/dashboard/login", open, async (request, reply) => {
      const ip = request.ctx.clientIp ?? "unknown";
      const raw = (request.body as { key?: unknown } | undefined)?.key;
      let key: KeyRecord;
      try {
        key = deps.authenticator.authenticate(typeof raw === "string" ? raw : undefined, ip);
        if (key.role === "user") {
          throw new BulwarkError(
            "permission_denied",
            "A user key cannot sign in to the dashboard; use an admin, operator or auditor key.",
          );
        }
      } catch (err) {
        if (err instanceof BulwarkError) {
          deps.countFailure(ip, err);
          deps.append(ip, "dashboard.login_refused", null, { code: err.code });
        }
        throw err;
      }
      const session = deps.sessions.create(key.id, key.role, ip);
      deps.append(key.id, "dashboard.login", key.id, { role: key.role });
      void reply
        .headers(SECURITY_HEADERS)
        .header(
          "set-cookie",
          sessionCookie(
            session.id,
            secure(request, deps.secureCookie),
            Math.floor(deps.sessionMaxAgeMs / 1000),
          ),
        );
      return { keyId: key.id, name: key.name, role: key.role, csrfToken: session.csrfToken };
    });

    // Open, so that a page without a session learns it must sign in (200, not a 401 error).
    app.get("/dashboard/api/session", open, async (request, reply) => {
      void reply.headers(SECURITY_HEADERS);
      const session = request.dashboardSession;
      const key = request.ctx.key;
      if (!session || !key) return { authenticated: false };
      return {
        authenticated: true,
        keyId: key.id,
        name: key.name,
        role: key.role,
        csrfToken: session.csrfToken,
      };
    });

    // Needs the session and its CSRF token, like every action.
    app.post(
      "/dashboard/logout",
      { config: { permission: "models.read" } },
      async (request, reply) => {
        const id = readCookie(request, SESSION_COOKIE);
        if (id) deps.sessions.delete(id);
        deps.append(request.ctx.key?.id ?? "unknown", "dashboard.logout", null, {});
        void reply
          .headers(SECURITY_HEADERS)
          .header("set-cookie", sessionCookie("", secure(request, deps.secureCookie), 0));
        return { ok: true };
      },
    );

    app.get<{ Querystring: Record<string, string | undefined> }>(
      "/dashboard/api/usage",
      { config: { permission: "usage.all" } },
      async (request, reply) => {
        const q = request.query;
        const window = q.window ?? "hour";
        const minutes = USAGE_WINDOWS[window];
        if (minutes === undefined) {
          throw new BulwarkError("invalid_request", "window must be hour or day.", {
            param: "window",
          });
        }
        const size = intParam(q.size, "size", 20, 1, MAX_PAGE_SIZE);
        const pageNo = intParam(q.page, "page", 1, 1, 1_000_000);
        const sinceMinute = Math.floor(deps.now() / 60_000) - minutes + 1;
        const result = await deps.usage.pageByKey({
          sinceMinute,
          limit: size,
          offset: (pageNo - 1) * size,
        });
        const keys = new Map(deps.keys.list().map((k) => [k.id, k]));
        void reply.headers(SECURITY_HEADERS);
        return {
          window,
          scope: result.scope,
          page: pageNo,
          size,
          total: result.total,
          data: result.data.map((u) => ({
            ...u,
            name: keys.get(u.keyId)?.name ?? null,
            role: keys.get(u.keyId)?.role ?? null,
          })),
        };
      },
    );

    app.get<{ Querystring: Record<string, string | undefined> }>(
      "/dashboard/api/audit",
      { config: { permission: "audit.read" } },
      async (request, reply) => {
        const limit = intParam(request.query.limit, "limit", 50, 1, MAX_PAGE_SIZE);
        const before = intParam(
          request.query.before,
          "before",
          Number.MAX_SAFE_INTEGER,
          1,
          Number.MAX_SAFE_INTEGER,
        );
        void reply.headers(SECURITY_HEADERS);
        return { object: "list", data: deps.audit.tail(limit, before) };
      },
    );
  };
}
