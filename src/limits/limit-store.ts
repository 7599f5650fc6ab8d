/**
 * Where the limit state lives. Each operation is atomic for its key: the in-memory store runs
 * the pure algorithm synchronously (no await between read and write); a Redis store runs the
 * same algorithm in a Lua script so that a fleet of gateways shares one limit.
 */
import { gcra, type GcraParams, type GcraResult } from "./gcra.js";
import {
  refund,
  reserve,
  type BucketParams,
  type BucketState,
  type ReserveResult,
} from "./token-bucket.js";

export interface LimitStore {
  gcra(key: string, params: GcraParams, now: number): Promise<GcraResult>;
  reserveTokens(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
  ): Promise<ReserveResult>;
  refundTokens(key: string, amount: number, params: BucketParams, now: number): Promise<void>;
  /** Adds `amount` to a counter if the sum stays ≤ `limit`; returns whether it did and the sum. */
  addWithin(key: string, amount: number, limit: number): Promise<{ ok: boolean; value: number }>;
  /** Subtracts from a counter (never below 0). */
  subtract(key: string, amount: number): Promise<void>;
  /**
   * Takes one of `limit` places under `key` for `token` (a request in flight), held until
   * released or until `leaseMs` passes (so that a process killed mid-request frees its place).
   */
  acquire(key: string, token: string, limit: number, leaseMs: number): Promise<{ ok: boolean }>;
  /** Gives the place back. */
  release(key: string, token: string): Promise<void>;
  /**
   * A request's admission in one step: `gcra` on `key`, then, only when it allows, `acquire` of
   * `hold` (one round trip where the store is remote).
   */
  gcraAcquire(
    key: string,
    params: GcraParams,
    now: number,
    hold: PlaceRequest,
  ): Promise<{ gcra: GcraResult; held: boolean }>;
  /**
   * A reservation against tokens per minute and a daily budget in one step (one round trip
   * where the store is remote): `reserveTokens` on `key`, then, only when it allows,
   * `addWithin` on `budget`; when the budget refuses, the tokens are not taken. `budget` is
   * undefined when the bucket refused.
   */
  reserveWithin(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
    budget: CounterRequest,
  ): Promise<{ reserve: ReserveResult; budget: { ok: boolean; value: number } | undefined }>;
  /** Gives `amount` back to both the bucket and the counter (the unused part of a reservation). */
  refundWithin(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
    budgetKey: string,
  ): Promise<void>;
  close(): Promise<void>;
}

/** A counter asked to grow within a bound. */
export interface CounterRequest {
  key: string;
  limit: number;
}

/** A place asked for in an in-flight count. */
export interface PlaceRequest {
  key: string;
  token: string;
  limit: number;
  leaseMs: number;
}

const SWEEP_AT = 50_000;

/** One process's limits. `baseline` seeds a counter the first time it is seen (daily budgets). */
export class MemoryLimitStore implements LimitStore {
  private readonly tats = new Map<string, number>();
  private readonly buckets = new Map<string, BucketState>();
  private readonly counters = new Map<string, number>();
  private readonly holders = new Map<string, Set<string>>();

  constructor(private readonly baseline: (key: string) => number = () => 0) {}

  async gcra(key: string, params: GcraParams, now: number): Promise<GcraResult> {
    const result = gcra(this.tats.get(key), now, params);
    if (result.allowed) this.tats.set(key, result.tat);
    if (this.tats.size > SWEEP_AT) this.sweep(now);
    return result;
  }

  /**
   * Forgets state that no longer limits anything, so that a flood of client IPs cannot grow
   * memory without bound: a TAT in the past is the same as none, a full bucket as none.
   */
  private sweep(now: number): void {
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key);
    for (const [key, b] of this.buckets) if (b.at < now - 60_000) this.buckets.delete(key);
  }

  async reserveTokens(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
  ): Promise<ReserveResult> {
    const result = reserve(this.buckets.get(key), amount, now, params);
    this.buckets.set(key, result.state);
    if (this.buckets.size > SWEEP_AT) this.sweep(now);
    return result;
  }

  async refundTokens(key: string, amount: number, params: BucketParams, now: number) {
    this.buckets.set(key, refund(this.buckets.get(key), amount, now, params));
  }

  async addWithin(key: string, amount: number, limit: number) {
    return this.addWithinNow(key, amount, limit);
  }

  /** addWithin without a turn of the event loop, for the steps that must stay atomic. */
  private addWithinNow(key: string, amount: number, limit: number) {
    const value = this.counters.get(key) ?? this.baseline(key);
    if (value + amount > limit) return { ok: false, value };
    this.counters.set(key, value + amount);
    return { ok: true, value: value + amount };
  }

  async subtract(key: string, amount: number) {
    const value = this.counters.get(key) ?? this.baseline(key);
    this.counters.set(key, Math.max(0, value - amount));
  }

  // One process: a place ends with the process, so the lease is not needed.
  async acquire(key: string, token: string, limit: number, _leaseMs?: number) {
    const held = this.holders.get(key) ?? new Set<string>();
    if (held.size >= limit) return { ok: false };
    held.add(token);
    this.holders.set(key, held);
    return { ok: true };
  }

  async gcraAcquire(key: string, params: GcraParams, now: number, hold: PlaceRequest) {
    const gcra = await this.gcra(key, params, now);
    if (!gcra.allowed) return { gcra, held: false };
    return { gcra, held: (await this.acquire(hold.key, hold.token, hold.limit)).ok };
  }

  async reserveWithin(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
    budget: CounterRequest,
  ) {
    const result = reserve(this.buckets.get(key), amount, now, params);
    if (!result.allowed) {
      this.buckets.set(key, result.state);
      return { reserve: result, budget: undefined };
    }
    // No await between the reads and the writes: the step is atomic for its keys. A refusal
    // by the budget leaves the bucket as it was, tokens not taken.
    const b = this.addWithinNow(budget.key, amount, budget.limit);
    this.buckets.set(key, b.ok ? result.state : refund(result.state, amount, now, params));
    return { reserve: result, budget: b };
  }

  async refundWithin(
    key: string,
    amount: number,
    params: BucketParams,
    now: number,
    budgetKey: string,
  ) {
    // Both at once, as a remote store does it in one step.
    await Promise.all([
      this.refundTokens(key, amount, params, now),
      this.subtract(budgetKey, amount),
    ]);
  }

  async release(key: string, token: string) {
    const held = this.holders.get(key);
    if (!held) return;
    held.delete(token);
    if (held.size === 0) this.holders.delete(key);
  }

  async close(): Promise<void> {
    this.holders.clear();
    this.tats.clear();
    this.buckets.clear();
    this.counters.clear();
  }
}
