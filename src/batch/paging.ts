/**
 * Cursor paging as OpenAI's list endpoints do it: `limit` (1..100, default 20), `after` (the id
 * of the last item of the previous page), and a page with `first_id`, `last_id` and `has_more`.
 * Pure: the store fetches `limit + 1` rows after the cursor and this turns them into a page.
 */
import { BulwarkError } from "../errors/index.js";

export interface PageQuery {
  limit: number;
  after?: string;
}

export interface Page<T> {
  object: "list";
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;

/** Reads `limit` and `after` from a query string's values; 400 invalid_request when wrong. */
export function pageQuery(query: Record<string, unknown>, max = MAX_PAGE): PageQuery {
  const rawLimit = query.limit;
  let limit = DEFAULT_PAGE;
  if (rawLimit !== undefined) {
    limit = Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > max) {
      throw new BulwarkError("invalid_request", `limit must be an integer from 1 to ${max}.`, {
        param: "limit",
      });
    }
  }
  const after = query.after;
  if (after !== undefined && (typeof after !== "string" || after === "")) {
    throw new BulwarkError("invalid_request", "after must be an id.", { param: "after" });
  }
  return { limit, ...(after !== undefined ? { after } : {}) };
}

/** The page of `rows` (up to limit + 1 fetched after the cursor). */
export function toPage<T extends { id: string }>(rows: readonly T[], limit: number): Page<T> {
  const data = rows.slice(0, limit);
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: rows.length > limit,
  };
}
