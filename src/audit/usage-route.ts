/**
 * GET /v1/usage on the public API: the calling key's own usage. Asking for another key's usage
 * needs the usage.all permission; without it the answer is 403, never the data.
 */
import type { FastifyInstance } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { can } from "../auth/index.js";
import type { UsageReader } from "./usage-reader.js";
import { parseUsageQuery, summarize } from "./usage-report.js";

export function registerUsageRoute(app: FastifyInstance, usage: UsageReader | undefined): void {
  if (!usage) return;
  app.get("/v1/usage", { config: { permission: "usage.own" } }, async (request) => {
    const key = request.ctx.key;
    if (!key) throw new BulwarkError("permission_denied", "Usage needs an API key.");
    const query = parseUsageQuery(request.query as Record<string, unknown>);
    const keyId = query.keyId ?? key.id;
    if (keyId !== key.id && !can(key.role, "usage.all")) {
      throw new BulwarkError("permission_denied", "A key may only read its own usage.", {
        param: "key",
      });
    }
    const { rows, scope } = await usage.query({ ...query, keyId });
    return summarize(rows, scope);
  });
}
