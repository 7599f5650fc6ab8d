/**
 * The failure policy of a shared limit store: a decision the shared store cannot take (its
 * call failed, timed out, or its circuit is open) is either refused with 503
 * state_unavailable and Retry-After (`closed`, for limits that protect money) or taken by this
 * process's own store (`open`), and each such decision is reported. Give-backs (refunds,
 * releases) that fail are dropped: the shared state's expiries end them.
 */
import { BulwarkError } from "../errors/index.js";
import type { GcraParams } from "./gcra.js";
import type { CounterRequest, LimitStore, PlaceRequest } from "./limit-store.js";
import type { BucketParams } from "./token-bucket.js";

export type OnStateDown = "closed" | "open";

export interface FailoverOptions {
  policy: OnStateDown;
  /** ms a refused client should wait before it retries. */
  retryInMs(): number;
  /** Told about each decision the shared store could not take (`op`: gcra, reserve, …). */
  onFallback(op: string, err: unknown): void;
}

export class FailoverLimitStore implements LimitStore {
  /** Places taken in the local store while the shared one was down, so they are given back there. */
  private readonly localHolds = new Set<string>();

  constructor(
    private readonly shared: LimitStore,
    private readonly local: LimitStore,
    private readonly options: FailoverOptions,
  ) {}

  private async decide<T>(
    op: string,
    shared: () => Promise<T>,
    local: () => Promise<T>,
  ): Promise<T> {
    try {
      return await shared();
    } catch (err) {
      if (err instanceof BulwarkError) throw err;
      this.options.onFallback(op, err);
      if (this.options.policy === "closed") {
        throw new BulwarkError("state_unavailable", undefined, {
          retryAfterSeconds: Math.max(1, Math.ceil(this.options.retryInMs() / 1000)),
        });
      }
      return local();
    }
  }

  gcra(key: string, params: GcraParams, now: number) {
    return this.decide(
      "gcra",
      () => this.shared.gcra(key, params, now),
      () => this.local.gcra(key, params, now),
    );
  }

  reserveTokens(key: string, amount: number, params: BucketParams, now: number) {
    return this.decide(
      "reserve",
      () => this.shared.reserveTokens(key, amount, params, now),
      () => this.local.reserveTokens(key, amount, params, now),
    );
  }

  addWithin(key: string, amount: number, limit: number) {
    return this.decide(
      "budget",
      () => this.shared.addWithin(key, amount, limit),
      () => this.local.addWithin(key, amount, limit),
    );
  }

  async acquire(key: string, token: string, limit: number, leaseMs: number) {
    return this.decide(
      "concurrency",
      () => this.shared.acquire(key, token, limit, leaseMs),
      async () => {
        const r = await this.local.acquire(key, token, limit, leaseMs);
        if (r.ok) this.localHolds.add(token);
        return r;
      },
    );
  }

  async gcraAcquire(key: string, params: GcraParams, now: number, hold: PlaceRequest) {
    return this.decide(
      "gcra",
      () => this.shared.gcraAcquire(key, params, now, hold),
      async () => {
        const r = await this.local.gcraAcquire(key, params, now, hold);
        if (r.held) this.localHolds.add(hold.token);
        return r;
      },
    );
  }

  reserveWithin(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
    budget: CounterRequest,
  ) {
    return this.decide(
      "reserve",
      () => this.shared.reserveWithin(key, amount, params, now, budget),
      () => this.local.reserveWithin(key, amount, params, now, budget),
    );
  }

  async refundWithin(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
    budgetKey: string,
  ) {
    await this.shared
      .refundWithin(key, amount, params, now, budgetKey)
      .catch(() => this.local.refundWithin(key, amount, params, now, budgetKey));
  }

  async release(key: string, token: string) {
    if (this.localHolds.delete(token)) return this.local.release(key, token);
    await this.shared.release(key, token).catch(() => undefined);
  }

  // A give-back goes where the hold most likely is: the shared store, else the local one.
  async refundTokens(key: string, amount: number, params: BucketParams, now: number) {
    await this.shared
      .refundTokens(key, amount, params, now)
      .catch(() => this.local.refundTokens(key, amount, params, now));
  }

  async subtract(key: string, amount: number) {
    await this.shared.subtract(key, amount).catch(() => this.local.subtract(key, amount));
  }

  async close(): Promise<void> {
    await this.shared.close();
    await this.local.close();
  }
}
