/**
 * Admission by limits: requests per minute per key and per IP (GCRA), requests in flight per
 * key, tokens per minute per key (reserve, then reconcile) and tokens per UTC day per key.
 * Refusals are 429s with Retry-After and OpenAI's x-ratelimit-* headers.
 */
import { randomUUID } from "node:crypto";
import { BulwarkError, type ErrorCode } from "../errors/index.js";
import type { LimitStore } from "./limit-store.js";
import { formatReset } from "./token-bucket.js";

const MINUTE = 60_000;
const DAY = 86_400_000;
/** The longest generation (server.requestTimeoutMs' default) and a minute more. */
const DEFAULT_LEASE_MS = 660_000;

export interface KeyLimitsView {
  id: string;
  rpm: number;
  tpm: number;
  concurrency: number;
  dailyBudget: number;
}

export interface RateLimiterOptions {
  /** Requests per minute per client IP; 0 is off. */
  ipRpm: number;
  /** How long a request's in-flight place is held at most, in ms (state.leaseMs). */
  leaseMs?: number;
}

/** What an admitted request holds until it ends. */
export interface RequestAdmission {
  headers: Record<string, string>;
  /** Frees the concurrency slot; safe to call twice. */
  release(): void;
}

/** Tokens held for one generation until it ends. */
export interface TokenReservation {
  reserved: number;
  headers: Record<string, string>;
  /** Gives back what was reserved beyond `used`; safe to call twice (the first call wins). */
  settle(used: number): void;
}

function refuse(
  code: ErrorCode,
  message: string,
  retryAfterMs: number | undefined,
  headers: Record<string, string>,
): BulwarkError {
  return new BulwarkError(code, message, {
    retryAfterSeconds: retryAfterMs === undefined ? undefined : retryAfterMs / 1000,
    headers,
  });
}

export class RateLimiter {
  constructor(
    private readonly store: LimitStore,
    private readonly options: RateLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Per-IP requests per minute, before the key is known (it also slows down key guessing). */
  async admitIp(ip: string): Promise<void> {
    if (this.options.ipRpm <= 0) return;
    const r = await this.store.gcra(
      `ip:${ip}`,
      { limit: this.options.ipRpm, periodMs: MINUTE },
      this.now(),
    );
    if (!r.allowed) {
      throw refuse(
        "rate_limit_exceeded",
        `Rate limit reached for this address: ${this.options.ipRpm} requests per minute.`,
        r.retryAfterMs,
        {},
      );
    }
  }

  /** The key's requests per minute and in-flight cap. */
  async admitRequest(key: KeyLimitsView): Promise<RequestAdmission> {
    const headers: Record<string, string> = {};
    const token = randomUUID();
    const hold = {
      key: `conc:${key.id}`,
      token,
      limit: key.concurrency,
      leaseMs: this.options.leaseMs ?? DEFAULT_LEASE_MS,
    };
    // With both limits, one step (one round trip to a shared store).
    const both =
      key.rpm > 0 && key.concurrency > 0
        ? await this.store.gcraAcquire(
            `rpm:${key.id}`,
            { limit: key.rpm, periodMs: MINUTE },
            this.now(),
            hold,
          )
        : undefined;
    if (key.rpm > 0) {
      const r =
        both?.gcra ??
        (await this.store.gcra(`rpm:${key.id}`, { limit: key.rpm, periodMs: MINUTE }, this.now()));
      headers["x-ratelimit-limit-requests"] = String(key.rpm);
      headers["x-ratelimit-remaining-requests"] = String(r.remaining);
      headers["x-ratelimit-reset-requests"] = formatReset(r.resetMs);
      if (!r.allowed) {
        throw refuse(
          "rate_limit_exceeded",
          `Rate limit reached: ${key.rpm} requests per minute for this key.`,
          r.retryAfterMs,
          headers,
        );
      }
    }
    let released = key.concurrency <= 0;
    if (key.concurrency > 0) {
      const ok = both
        ? both.held
        : (await this.store.acquire(hold.key, token, hold.limit, hold.leaseMs)).ok;
      if (!ok) {
        throw refuse(
          "concurrency_limit_exceeded",
          `This key may have ${key.concurrency} requests in flight at once.`,
          1000,
          headers,
        );
      }
    }
    return {
      headers,
      release: () => {
        if (released) return;
        released = true;
        void this.store.release(`conc:${key.id}`, token).catch(() => undefined);
      },
    };
  }

  /**
   * Reserves `amount` tokens (a generation's prompt + max_tokens, an embedding's bound) against
   * the key's tokens per minute and daily budget.
   */
  async reserveTokens(key: KeyLimitsView, amount: number): Promise<TokenReservation> {
    const now = this.now();
    const headers: Record<string, string> = {};
    const bucket = { limit: key.tpm, periodMs: MINUTE };
    const day = Math.floor(now / DAY);
    const budgetKey = `budget:${key.id}:${day}`;
    const both = key.tpm > 0 && key.dailyBudget > 0;
    let budget: { ok: boolean; value: number } | undefined;
    if (key.tpm > 0) {
      // With both limits, one step (one round trip to a shared store).
      let r;
      if (both) {
        const step = await this.store.reserveWithin(`tpm:${key.id}`, amount, bucket, now, {
          key: budgetKey,
          limit: key.dailyBudget,
        });
        r = step.reserve;
        budget = step.budget;
      } else {
        r = await this.store.reserveTokens(`tpm:${key.id}`, amount, bucket, now);
      }
      headers["x-ratelimit-limit-tokens"] = String(key.tpm);
      headers["x-ratelimit-remaining-tokens"] = String(r.remaining);
      headers["x-ratelimit-reset-tokens"] = formatReset(r.resetMs);
      if (r.never) {
        throw refuse(
          "tokens_rate_limit_exceeded",
          `The request needs ${amount} tokens (its prompt, plus max_tokens for a generation), ` +
            `more than this key's limit of ${key.tpm} tokens per minute; shorten the input or ` +
            `lower max_tokens.`,
          undefined,
          headers,
        );
      }
      if (!r.allowed) {
        throw refuse(
          "tokens_rate_limit_exceeded",
          `Rate limit reached: ${key.tpm} tokens per minute for this key; the request needs ${amount}.`,
          r.retryAfterMs,
          headers,
        );
      }
    }
    if (key.dailyBudget > 0) {
      // Alone, its own step; with a token limit, taken above (and the tokens were not taken
      // when it refused).
      const b = budget ?? (await this.store.addWithin(budgetKey, amount, key.dailyBudget));
      if (!b.ok) {
        throw refuse(
          "daily_budget_exceeded",
          `This key's daily budget of ${key.dailyBudget} tokens is spent (${b.value} used or ` +
            `held); the request needs ${amount}.`,
          amount > key.dailyBudget ? undefined : (day + 1) * DAY - now,
          headers,
        );
      }
    }
    let settled = false;
    return {
      reserved: amount,
      headers,
      settle: (used: number) => {
        if (settled) return;
        settled = true;
        const unused = Math.max(0, amount - Math.max(0, used));
        if (unused === 0) return;
        const ignore = () => undefined; // a lost refund only errs on the safe side
        if (both) {
          void this.store
            .refundWithin(`tpm:${key.id}`, unused, bucket, this.now(), budgetKey)
            .catch(ignore);
          return;
        }
        if (key.tpm > 0) {
          void this.store.refundTokens(`tpm:${key.id}`, unused, bucket, this.now()).catch(ignore);
        }
        if (key.dailyBudget > 0) void this.store.subtract(budgetKey, unused).catch(ignore);
      },
    };
  }
}
