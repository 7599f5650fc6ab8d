/**
 * Per-key usage in SQLite, one row per key, model and UTC day: requests, tokens and errors.
 * `bulwark usage` and the admin API read it; daily budgets start from it after a restart.
 * A second table rolls the same figures up per minute, kept for two days, so that the
 * dashboard reads the last hour or day per key from a few rows, paged by SQL, never by
 * scanning requests.
 *
 * This table is each home's durable record. With state.backend redis, a fleet's reports sum the
 * homes' rows in Redis (src/store/redis/fleet-usage.ts): each home is named by the id in
 * `usage_home`, made once, so that its rows are sent again as they are (absolute, not added),
 * which makes a resend after an outage or a restart exact.
 */
import { randomUUID } from "node:crypto";
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
  {
    name: "003-usage-minute",
    up: `CREATE TABLE usage_minute (
      key_id TEXT NOT NULL, model TEXT NOT NULL, minute INTEGER NOT NULL,
      requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
      prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (key_id, model, minute));
    CREATE INDEX usage_minute_by_minute ON usage_minute (minute)`,
  },
  {
    name: "004-usage-home",
    up: `CREATE TABLE usage_home (id TEXT NOT NULL)`,
  },
  {
    // Lines of batches (src/batch/); they are counted in the totals too.
    name: "005-usage-batch",
    up: `ALTER TABLE usage_daily ADD COLUMN batch_requests INTEGER NOT NULL DEFAULT 0`,
  },
];

/** How long the per-minute rollups are kept, in minutes (two days). */
const MINUTE_RETENTION = 2 * 24 * 60;

/** One key's usage over a span of minutes. */
export interface KeyUsageTotals {
  keyId: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
}

export interface UsagePageQuery {
  /** First minute counted (epoch minutes, inclusive). */
  sinceMinute: number;
  limit: number;
  offset: number;
}

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
  /** Lines of batches. */
  batchRequests?: number;
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

/** A usage row of one minute (the dashboard's rollup). */
export interface MinuteRow {
  keyId: string;
  model: string;
  minute: number;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
}

/** What a recorded request changed: its day's row and its minute's row. */
export interface RecordedUsage {
  keyId: string;
  model: string;
  day: string;
  minute: number;
}

const DAY_COLUMNS = `key_id keyId, model, day, requests, errors, prompt_tokens promptTokens,
  completion_tokens completionTokens, cached_requests cachedRequests,
  batch_requests batchRequests`;
const MINUTE_COLUMNS = `key_id keyId, model, minute, requests, errors, prompt_tokens promptTokens,
  completion_tokens completionTokens`;

export class UsageStore {
  private readonly add;
  private readonly addMinute;
  private prunedAt = 0;
  /** Told after each recorded request (the fleet's usage sends the rows it changed). */
  onRecord: (changed: RecordedUsage) => void = () => undefined;

  constructor(private readonly db: Db) {
    migrate(db, "usage", MIGRATIONS);
    this.addMinute = db.prepare(
      `INSERT INTO usage_minute (key_id, model, minute, requests, errors, prompt_tokens, completion_tokens)
       VALUES (@keyId, @model, @minute, 1, @errors, @promptTokens, @completionTokens)
       ON CONFLICT (key_id, model, minute) DO UPDATE SET requests = requests + 1,
         errors = errors + excluded.errors, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
         completion_tokens = completion_tokens + excluded.completion_tokens`,
    );
    this.add = db.prepare(
      `INSERT INTO usage_daily (key_id, model, day, requests, errors, prompt_tokens,
         completion_tokens, cached_requests, batch_requests)
       VALUES (@keyId, @model, @day, 1, @errors, @promptTokens, @completionTokens, @cached, @batch)
       ON CONFLICT (key_id, model, day) DO UPDATE SET requests = requests + 1,
         errors = errors + excluded.errors, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
         completion_tokens = completion_tokens + excluded.completion_tokens,
         cached_requests = cached_requests + excluded.cached_requests,
         batch_requests = batch_requests + excluded.batch_requests`,
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
    /** A line of a batch (src/batch/). */
    batch?: boolean;
  }): void {
    this.add.run({
      keyId: entry.keyId,
      model: entry.model,
      day: utcDay(entry.at),
      errors: entry.error ? 1 : 0,
      promptTokens: entry.promptTokens,
      completionTokens: entry.completionTokens,
      cached: entry.cached ? 1 : 0,
      batch: entry.batch ? 1 : 0,
    });
    const minute = Math.floor(entry.at / 60_000);
    this.addMinute.run({
      keyId: entry.keyId,
      model: entry.model,
      minute,
      errors: entry.error ? 1 : 0,
      promptTokens: entry.promptTokens,
      completionTokens: entry.completionTokens,
    });
    // Old minutes go once an hour, not on every write.
    if (minute - this.prunedAt >= 60) {
      this.prunedAt = minute;
      this.db.prepare("DELETE FROM usage_minute WHERE minute < ?").run(minute - MINUTE_RETENTION);
    }
    this.onRecord({ keyId: entry.keyId, model: entry.model, day: utcDay(entry.at), minute });
  }

  /** This home's id in a fleet's usage, made at its first use. */
  homeId(): string {
    const id = this.db.prepare("SELECT id FROM usage_home").pluck().get() as string | undefined;
    if (id) return id;
    const made = randomUUID();
    this.db.prepare("INSERT INTO usage_home (id) VALUES (?)").run(made);
    return made;
  }

  /** One day's row of a key and model, if any. */
  dayRow(keyId: string, model: string, day: string): UsageRow | undefined {
    return this.db
      .prepare(`SELECT ${DAY_COLUMNS} FROM usage_daily WHERE key_id = ? AND model = ? AND day = ?`)
      .get(keyId, model, day) as UsageRow | undefined;
  }

  /** One minute's row of a key and model, if any. */
  minuteRow(keyId: string, model: string, minute: number): MinuteRow | undefined {
    return this.db
      .prepare(
        `SELECT ${MINUTE_COLUMNS} FROM usage_minute WHERE key_id = ? AND model = ? AND minute = ?`,
      )
      .get(keyId, model, minute) as MinuteRow | undefined;
  }

  /** A page of every day row, in a stable order (a full resend, in batches). */
  dayRows(offset: number, limit: number): UsageRow[] {
    return this.db
      .prepare(
        `SELECT ${DAY_COLUMNS} FROM usage_daily ORDER BY day, key_id, model LIMIT ? OFFSET ?`,
      )
      .all(limit, offset) as UsageRow[];
  }

  /** A page of the minute rows since a minute, in a stable order. */
  minuteRows(sinceMinute: number, offset: number, limit: number): MinuteRow[] {
    return this.db
      .prepare(
        `SELECT ${MINUTE_COLUMNS} FROM usage_minute WHERE minute >= ?
         ORDER BY minute, key_id, model LIMIT ? OFFSET ?`,
      )
      .all(sinceMinute, limit, offset) as MinuteRow[];
  }

  /**
   * Usage per key since a minute, most tokens first, one page of it, and how many keys there
   * are in all (for paging).
   */
  pageByKey(q: UsagePageQuery): { total: number; data: KeyUsageTotals[] } {
    const total = this.db
      .prepare("SELECT count(DISTINCT key_id) FROM usage_minute WHERE minute >= ?")
      .pluck()
      .get(q.sinceMinute) as number;
    const data = this.db
      .prepare(
        `SELECT key_id keyId, sum(requests) requests, sum(errors) errors,
           sum(prompt_tokens) promptTokens, sum(completion_tokens) completionTokens
         FROM usage_minute WHERE minute >= ? GROUP BY key_id
         ORDER BY sum(prompt_tokens + completion_tokens) DESC, sum(requests) DESC, key_id
         LIMIT ? OFFSET ?`,
      )
      .all(q.sinceMinute, q.limit, q.offset) as KeyUsageTotals[];
    return { total, data };
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
      `SELECT ${DAY_COLUMNS} FROM usage_daily` +
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
