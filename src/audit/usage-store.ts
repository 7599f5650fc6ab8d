/**
 * Per-key usage in SQLite, one row per key, model and UTC day: requests, tokens and errors.
 * `bulwark usage` and the admin API read it; daily budgets start from it after a restart.
 */
import { migrate, type Db } from "../store/index.js";

const MIGRATIONS = [
  {
    name: "001-usage",
    up: `CREATE TABLE usage_daily (
      key_id TEXT NOT NULL, model TEXT NOT NULL, day TEXT NOT NULL,
      requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
      prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (key_id, model, day))`,
  },
  {
    // Requests answered from the response cache; their tokens are counted in the totals too.
    name: "002-usage-cached",
    up: `ALTER TABLE usage_daily ADD COLUMN cached_requests INTEGER NOT NULL DEFAULT 0`,
  },
];

export interface UsageRow {
  keyId: string;
  model: string;
  /** YYYY-MM-DD, UTC. */
  day: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  /** Requests answered from the response cache (no engine ran). */
  cachedRequests: number;
}

export interface UsageQuery {
  keyId?: string;
  /** Inclusive, YYYY-MM-DD. */
  since?: string;
  until?: string;
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export class UsageStore {
  private readonly add;

  constructor(private readonly db: Db) {
    migrate(db, "usage", MIGRATIONS);
    this.add = db.prepare(
      `INSERT INTO usage_daily (key_id, model, day, requests, errors, prompt_tokens,
         completion_tokens, cached_requests)
       VALUES (@keyId, @model, @day, 1, @errors, @promptTokens, @completionTokens, @cached)
       ON CONFLICT (key_id, model, day) DO UPDATE SET requests = requests + 1,
         errors = errors + excluded.errors, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
         completion_tokens = completion_tokens + excluded.completion_tokens,
         cached_requests = cached_requests + excluded.cached_requests`,
    );
  }

  record(entry: {
    keyId: string;
    model: string;
    at: number;
    error: boolean;
    promptTokens: number;
    completionTokens: number;
    /** Answered from the response cache. */
    cached?: boolean;
  }): void {
    this.add.run({
      keyId: entry.keyId,
      model: entry.model,
      day: utcDay(entry.at),
      errors: entry.error ? 1 : 0,
      promptTokens: entry.promptTokens,
      completionTokens: entry.completionTokens,
      cached: entry.cached ? 1 : 0,
    });
  }

  query(q: UsageQuery = {}): UsageRow[] {
    const where: string[] = [];
    const args: string[] = [];
    const filters: [string, string | undefined][] = [
      ["key_id = ?", q.keyId],
      ["day >= ?", q.since],
      ["day <= ?", q.until],
    ];
    for (const [clause, value] of filters) {
      if (value === undefined) continue;
      where.push(clause);
      args.push(value);
    }
    const sql =
      `SELECT key_id keyId, model, day, requests, errors, prompt_tokens promptTokens,
         completion_tokens completionTokens, cached_requests cachedRequests FROM usage_daily` +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY day, key_id, model";
    return this.db.prepare(sql).all(...args) as UsageRow[];
  }

  /** Tokens a key used on one UTC day (the daily budget's starting point). */
  tokensOn(keyId: string, day: string): number {
    return (
      (this.db
        .prepare(
          `SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage_daily
           WHERE key_id = ? AND day = ?`,
        )
        .pluck()
        .get(keyId, day) as number) ?? 0
    );
  }
}
