/** Usage rows grouped per key, by model and by day, for the CLI and the APIs. */
import { BulwarkError } from "../errors/index.js";
import type { UsageQuery, UsageRow } from "./usage-store.js";
import type { UsageScope } from "./usage-reader.js";

export interface Totals {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Requests answered from the response cache (their tokens are in the totals). */
  cached_requests: number;
  /** Lines of batches (src/batch/; their tokens are in the totals). */
  batch_requests: number;
}

export interface KeyUsage extends Totals {
  key: string;
  by_model: Record<string, Totals>;
  by_day: Record<string, Totals>;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

function zero(): Totals {
  return {
    requests: 0,
    errors: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    cached_requests: 0,
    batch_requests: 0,
  };
}

function add(t: Totals, r: UsageRow): void {
  t.requests += r.requests;
  t.errors += r.errors;
  t.prompt_tokens += r.promptTokens;
  t.completion_tokens += r.completionTokens;
  t.total_tokens += r.promptTokens + r.completionTokens;
  t.cached_requests += r.cachedRequests;
  t.batch_requests += r.batchRequests ?? 0;
}

/** The rows per key; `scope` says whether they are the fleet's or this instance's alone. */
export function summarize(
  rows: UsageRow[],
  scope: UsageScope = "instance",
): { object: "list"; scope: UsageScope; data: KeyUsage[] } {
  const byKey = new Map<string, KeyUsage>();
  for (const r of rows) {
    let k = byKey.get(r.keyId);
    if (!k) {
      // Null-prototype maps: a model named "__proto__" (any client may ask for one, and its
      // usage row is recorded) would otherwise add its counts to Object.prototype, and the next
      // metrics update, which walks label objects with for…in, threw and stopped the server.
      k = { key: r.keyId, ...zero(), by_model: Object.create(null), by_day: Object.create(null) };
      byKey.set(r.keyId, k);
    }
    add(k, r);
    add((k.by_model[r.model] ??= zero()), r);
    add((k.by_day[r.day] ??= zero()), r);
  }
  return { object: "list", scope, data: [...byKey.values()] };
}

/** ?key=ID&since=YYYY-MM-DD&until=YYYY-MM-DD */
export function parseUsageQuery(q: Record<string, unknown>): UsageQuery {
  const out: UsageQuery = {};
  for (const [name, field] of [
    ["since", "since"],
    ["until", "until"],
  ] as const) {
    const v = q[name];
    if (v === undefined) continue;
    if (typeof v !== "string" || !DAY_RE.test(v)) {
      throw new BulwarkError("invalid_request", `${name} must be a date as YYYY-MM-DD.`, {
        param: name,
      });
    }
    out[field] = v;
  }
  if (q.key !== undefined) {
    if (typeof q.key !== "string" || q.key === "") {
      throw new BulwarkError("invalid_request", "key must be a key id.", { param: "key" });
    }
    out.keyId = q.key;
  }
  return out;
}
