/**
 * The limit store of a fleet: every decision is one Lua script on the shared Redis (lua.ts),
 * on Redis's clock; the `now` the limiter passes is ignored except for the day of a daily
 * budget, which the limiter puts in the key.
 */
import type { GcraParams, GcraResult } from "../../limits/gcra.js";
import type { CounterRequest, LimitStore, PlaceRequest } from "../../limits/limit-store.js";
import type { BucketParams, ReserveResult } from "../../limits/token-bucket.js";
import type { RedisConnection } from "./connection.js";

/** A daily budget's counter outlives its day by one more, then goes. */
const BUDGET_TTL_MS = 2 * 86_400_000;

const ints = (v: unknown): number[] => (v as (number | string)[]).map(Number);

/** A reservation's decision from the first five values a reserve script answers. */
function reserveResult([
  allowed,
  never,
  remaining,
  resetMs,
  retryAfterMs,
]: number[]): ReserveResult {
  return {
    allowed: allowed === 1,
    never: never === 1,
    state: { level: remaining!, at: 0 },
    remaining: remaining!,
    resetMs: resetMs!,
    retryAfterMs: retryAfterMs!,
  };
}

export class RedisLimitStore implements LimitStore {
  constructor(
    private readonly redis: RedisConnection,
    /** Seeds a budget counter the first time Redis sees it (what this instance counted today). */
    private readonly baseline: (key: string) => number = () => 0,
  ) {}

  async gcra(key: string, p: GcraParams): Promise<GcraResult> {
    const [allowed, remaining, resetMs, retryAfterMs] = ints(
      await this.redis.script("bwGcra", `limit:${key}`, p.limit, p.periodMs, p.burst ?? p.limit),
    );
    // The TAT stays in Redis; the limiter reads only the decision.
    return {
      allowed: allowed === 1,
      tat: 0,
      remaining: remaining!,
      resetMs: resetMs!,
      retryAfterMs: retryAfterMs!,
    };
  }

  async reserveTokens(key: string, amount: number, p: BucketParams): Promise<ReserveResult> {
    return reserveResult(
      ints(await this.redis.script("bwReserve", `limit:${key}`, amount, p.limit, p.periodMs)),
    );
  }

  async refundTokens(key: string, amount: number, p: BucketParams): Promise<void> {
    await this.redis.script("bwRefund", `limit:${key}`, amount, p.limit, p.periodMs);
  }

  async addWithin(key: string, amount: number, limit: number) {
    const [ok, value] = ints(
      await this.redis.script(
        "bwAddWithin",
        `limit:${key}`,
        amount,
        limit,
        this.baseline(key),
        BUDGET_TTL_MS,
      ),
    );
    return { ok: ok === 1, value: value! };
  }

  async subtract(key: string, amount: number): Promise<void> {
    await this.redis.script("bwSubtract", `limit:${key}`, amount);
  }

  async acquire(key: string, token: string, limit: number, leaseMs: number) {
    const [ok] = ints(await this.redis.script("bwAcquire", `limit:${key}`, token, limit, leaseMs));
    return { ok: ok === 1 };
  }

  async gcraAcquire(key: string, p: GcraParams, _now: number, hold: PlaceRequest) {
    const [allowed, remaining, resetMs, retryAfterMs, held] = ints(
      await this.redis.script(
        "bwGcraAcquire",
        [`limit:${key}`, `limit:${hold.key}`],
        p.limit,
        p.periodMs,
        p.burst ?? p.limit,
        hold.token,
        hold.limit,
        hold.leaseMs,
      ),
    );
    return {
      gcra: {
        allowed: allowed === 1,
        tat: 0,
        remaining: remaining!,
        resetMs: resetMs!,
        retryAfterMs: retryAfterMs!,
      },
      held: held === 1,
    };
  }

  async reserveWithin(
    key: string,
    amount: number,
    p: BucketParams,
    _now: number,
    budget: CounterRequest,
  ) {
    const values = ints(
      await this.redis.script(
        "bwReserveWithin",
        [`limit:${key}`, `limit:${budget.key}`],
        amount,
        p.limit,
        p.periodMs,
        budget.limit,
        this.baseline(budget.key),
        BUDGET_TTL_MS,
      ),
    );
    const [budgetOk, budgetValue] = values.slice(5);
    return {
      reserve: reserveResult(values),
      budget: budgetOk === -1 ? undefined : { ok: budgetOk === 1, value: budgetValue! },
    };
  }

  async refundWithin(
    key: string,
    amount: number,
    p: BucketParams,
    _now: number,
    budgetKey: string,
  ): Promise<void> {
    await this.redis.script(
      "bwRefundWithin",
      [`limit:${key}`, `limit:${budgetKey}`],
      amount,
      p.limit,
      p.periodMs,
    );
  }

  async release(key: string, token: string): Promise<void> {
    await this.redis.run((c) => c.zrem(this.redis.key(`limit:${key}`), token));
  }

  async close(): Promise<void> {
    // The connection is shared; its owner closes it.
  }
}
