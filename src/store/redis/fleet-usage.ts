/**
 * Usage across a fleet: each home's SQLite table stays its durable record, and its rows are
 * mirrored into Redis hashes, one per UTC day and one per minute, under the home's id
 * (`usage:day:<day>` and `usage:min:<minute>`, field `home␟key␟model`). A row is sent whole (its
 * totals, not an increment), so sending it again changes nothing: a row changed while Redis
 * was down is sent when it returns, and when Redis lost its data (the home's marker is gone),
 * or at start, every row is sent again in batches. Reports sum the homes' rows; when Redis
 * cannot be read, they answer with this home's rows and say so (scope "instance"). All of it
 * goes through the connection's background link, so that no slow batch trips the breaker
 * that guards requests.
 */
import type { Redis } from "ioredis";
import type {
  KeyUsageTotals,
  MinuteRow,
  UsagePageQuery,
  UsageQuery,
  UsageReader,
  UsageRow,
  UsageStore,
} from "../../audit/index.js";
import { LocalUsageReader } from "../../audit/index.js";
import type { BackgroundRedis, RedisConnection } from "./connection.js";

const SEP = "\u001f";
const DAY_MS = 86_400_000;
/** Day hashes stay this long in Redis (each home keeps its own rows for good). */
const DAY_TTL_S = 400 * 86_400;
/** Minute hashes stay as long as the dashboard's rollups (two days). */
const MINUTE_TTL_S = 2 * 86_400;
const MINUTE_RETENTION = 2 * 24 * 60;
/** Rows per Redis pipeline when everything is sent again; hashes read per pipeline. */
const BATCH = 500;
const READ_BATCH = 120;

export interface FleetUsageOptions {
  /** How often changed rows are sent, in ms (state.syncIntervalMs). */
  flushIntervalMs: number;
  now?: () => number;
  onError?(op: string, err: unknown): void;
}

type Pipeline = ReturnType<Redis["pipeline"]>;

const epochDay = (day: string) => Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY_MS);

function dayValue(r: UsageRow): string {
  return [r.requests, r.errors, r.promptTokens, r.completionTokens, r.cachedRequests].join(",");
}

function minuteValue(r: MinuteRow): string {
  return [r.requests, r.errors, r.promptTokens, r.completionTokens].join(",");
}

function numbers(value: string): number[] {
  return value.split(",").map((n) => Number(n) || 0);
}

async function exec(pipeline: Pipeline): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  return replies.map(([, value]) => value);
}

export class FleetUsage implements UsageReader {
  private readonly home: string;
  private readonly local: LocalUsageReader;
  private readonly now: () => number;
  /** Rows changed here and not yet in Redis: `day␟key␟model` and `minute␟key␟model`. */
  private dirtyDays = new Set<string>();
  private dirtyMinutes = new Set<string>();
  /** Set when every row must be sent again (at start, after Redis lost its data). */
  private resendAll = true;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Its own connection (longer timeouts, not the requests' breaker): nothing here is urgent. */
  private readonly redis: BackgroundRedis;

  constructor(
    connection: RedisConnection,
    private readonly store: UsageStore,
    private readonly options: FleetUsageOptions,
  ) {
    this.redis = connection.background();
    this.home = store.homeId();
    this.local = new LocalUsageReader(store);
    this.now = options.now ?? Date.now;
    store.onRecord = (c) => {
      this.dirtyDays.add([c.day, c.keyId, c.model].join(SEP));
      this.dirtyMinutes.add([c.minute, c.keyId, c.model].join(SEP));
    };
  }

  /** Starts sending changed rows every flushIntervalMs (the first send is everything). */
  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
    void this.flush();
  }

  /** Sends what changed (or everything, when needed); a failure keeps it for the next try. */
  flush(): Promise<void> {
    this.flushing ??= this.send().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private get marker(): string {
    return this.redis.key(`usage:home:${this.home}`);
  }

  private async send(): Promise<void> {
    // While Redis is down the rows wait here; the first send after it returns takes them.
    if (!this.redis.up()) return;
    try {
      if (!this.resendAll) {
        // Redis restarted empty (or was flushed): this home's marker went with the rows.
        const present = await this.redis.run((c) => c.exists(this.marker));
        if (present === 0) this.resendAll = true;
      }
      if (this.resendAll) {
        await this.sendEverything();
        await this.redis.run((c) => c.set(this.marker, String(this.now())));
        this.resendAll = false;
      } else {
        await this.sendChanged();
      }
    } catch (err) {
      this.options.onError?.("usage sync", err);
    }
  }

  private async sendChanged(): Promise<void> {
    const days = this.dirtyDays;
    const minutes = this.dirtyMinutes;
    if (days.size === 0 && minutes.size === 0) return;
    this.dirtyDays = new Set();
    this.dirtyMinutes = new Set();
    try {
      const dayRows: UsageRow[] = [];
      for (const d of days) {
        const [day, keyId, model] = d.split(SEP) as [string, string, string];
        const row = this.store.dayRow(keyId, model, day);
        if (row) dayRows.push(row);
      }
      const minuteRows: MinuteRow[] = [];
      for (const m of minutes) {
        const [minute, keyId, model] = m.split(SEP) as [string, string, string];
        const row = this.store.minuteRow(keyId, model, Number(minute));
        if (row) minuteRows.push(row);
      }
      await this.write(dayRows, minuteRows);
    } catch (err) {
      // Kept for the next try: the rows are read again then, with what was added since.
      for (const d of days) this.dirtyDays.add(d);
      for (const m of minutes) this.dirtyMinutes.add(m);
      throw err;
    }
  }

  /** Every day row and the minute rows of the last two days, in batches. */
  private async sendEverything(): Promise<void> {
    // What changes from now on is sent by the next flush in any case.
    this.dirtyDays = new Set();
    this.dirtyMinutes = new Set();
    for (let offset = 0; ; offset += BATCH) {
      const rows = this.store.dayRows(offset, BATCH);
      if (rows.length > 0) await this.write(rows, []);
      if (rows.length < BATCH) break;
    }
    const since = Math.floor(this.now() / 60_000) - MINUTE_RETENTION;
    for (let offset = 0; ; offset += BATCH) {
      const rows = this.store.minuteRows(since, offset, BATCH);
      if (rows.length > 0) await this.write([], rows);
      if (rows.length < BATCH) break;
    }
  }

  private field(keyId: string, model: string): string {
    return [this.home, keyId, model].join(SEP);
  }

  private async write(dayRows: UsageRow[], minuteRows: MinuteRow[]): Promise<void> {
    await this.redis.run((c) => {
      const p = c.pipeline();
      const days = new Set<string>();
      for (const r of dayRows) {
        p.hset(this.redis.key(`usage:day:${r.day}`), this.field(r.keyId, r.model), dayValue(r));
        days.add(r.day);
      }
      for (const day of days) {
        p.expire(this.redis.key(`usage:day:${day}`), DAY_TTL_S);
        p.zadd(this.redis.key("usage:days"), epochDay(day), day);
      }
      const minutes = new Set<number>();
      for (const r of minuteRows) {
        p.hset(
          this.redis.key(`usage:min:${r.minute}`),
          this.field(r.keyId, r.model),
          minuteValue(r),
        );
        minutes.add(r.minute);
      }
      for (const m of minutes) p.expire(this.redis.key(`usage:min:${m}`), MINUTE_TTL_S);
      return exec(p);
    });
  }

  /** HGETALL of each hash, in pipelines of READ_BATCH. */
  private async readHashes(names: string[]): Promise<Record<string, string>[]> {
    const out: Record<string, string>[] = [];
    for (let i = 0; i < names.length; i += READ_BATCH) {
      const chunk = names.slice(i, i + READ_BATCH);
      const replies = await this.redis.run((c) => {
        const p = c.pipeline();
        for (const n of chunk) p.hgetall(this.redis.key(n));
        return exec(p);
      });
      out.push(...(replies as Record<string, string>[]));
    }
    return out;
  }

  async query(q: UsageQuery): Promise<{ rows: UsageRow[]; scope: "fleet" | "instance" }> {
    try {
      const min = q.since ? String(epochDay(q.since)) : "-inf";
      const max = q.until ? String(epochDay(q.until)) : "+inf";
      const days = await this.redis.run((c) =>
        c.zrangebyscore(this.redis.key("usage:days"), min, max),
      );
      const hashes = await this.readHashes(days.map((d) => `usage:day:${d}`));
      const sums = new Map<string, UsageRow>();
      hashes.forEach((hash, i) => {
        const day = days[i]!;
        for (const [field, value] of Object.entries(hash)) {
          const [, keyId, model] = field.split(SEP) as [string, string, string];
          if (q.keyId !== undefined && keyId !== q.keyId) continue;
          const id = [day, keyId, model].join(SEP);
          const row = sums.get(id) ?? {
            keyId,
            model,
            day,
            requests: 0,
            errors: 0,
            promptTokens: 0,
            completionTokens: 0,
            cachedRequests: 0,
          };
          const [requests = 0, errors = 0, prompt = 0, completion = 0, cached = 0] = numbers(value);
          row.requests += requests;
          row.errors += errors;
          row.promptTokens += prompt;
          row.completionTokens += completion;
          row.cachedRequests += cached;
          sums.set(id, row);
        }
      });
      const rows = [...sums.values()].sort(
        (a, b) =>
          a.day.localeCompare(b.day) ||
          a.keyId.localeCompare(b.keyId) ||
          a.model.localeCompare(b.model),
      );
      return { rows, scope: "fleet" };
    } catch (err) {
      this.options.onError?.("usage read", err);
      return this.local.query(q);
    }
  }

  async pageByKey(q: UsagePageQuery) {
    try {
      const last = Math.floor(this.now() / 60_000);
      const names: string[] = [];
      for (let m = Math.max(q.sinceMinute, last - MINUTE_RETENTION); m <= last; m++) {
        names.push(`usage:min:${m}`);
      }
      const byKey = new Map<string, KeyUsageTotals>();
      for (const hash of await this.readHashes(names)) {
        for (const [field, value] of Object.entries(hash)) {
          const keyId = field.split(SEP)[1]!;
          const t = byKey.get(keyId) ?? {
            keyId,
            requests: 0,
            errors: 0,
            promptTokens: 0,
            completionTokens: 0,
          };
          const [requests = 0, errors = 0, prompt = 0, completion = 0] = numbers(value);
          t.requests += requests;
          t.errors += errors;
          t.promptTokens += prompt;
          t.completionTokens += completion;
          byKey.set(keyId, t);
        }
      }
      const all = [...byKey.values()].sort(
        (a, b) =>
          b.promptTokens + b.completionTokens - (a.promptTokens + a.completionTokens) ||
          b.requests - a.requests ||
          a.keyId.localeCompare(b.keyId),
      );
      return {
        total: all.length,
        data: all.slice(q.offset, q.offset + q.limit),
        scope: "fleet" as const,
      };
    } catch (err) {
      this.options.onError?.("usage read", err);
      return this.local.pageByKey(q);
    }
  }

  /** Stops the timer and makes a last send (bounded by the connection's timeouts). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
