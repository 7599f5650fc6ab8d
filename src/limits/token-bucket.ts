/**
 * Tokens per minute by reserve-then-reconcile: admission takes prompt + max_tokens out of a
 * bucket that refills continuously at limit/period; completion gives back what was not used.
 * Pure: the state is a value, the caller stores it.
 */
export interface BucketParams {
  /** Tokens per period; also the bucket's size. */
  limit: number;
  periodMs: number;
}

export interface BucketState {
  level: number;
  at: number;
}

export interface ReserveResult {
  allowed: boolean;
  /** True when the amount is larger than the whole bucket: no wait will ever admit it. */
  never: boolean;
  state: BucketState;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

function refill(state: BucketState | undefined, now: number, p: BucketParams): BucketState {
  if (!state) return { level: p.limit, at: now };
  const elapsed = Math.max(0, now - state.at);
  return { level: Math.min(p.limit, state.level + (elapsed * p.limit) / p.periodMs), at: now };
}

function resetMs(level: number, p: BucketParams): number {
  return Math.ceil(((p.limit - level) * p.periodMs) / p.limit);
}

export function reserve(
  state: BucketState | undefined,
  amount: number,
  now: number,
  p: BucketParams,
): ReserveResult {
  const s = refill(state, now, p);
  if (amount > p.limit) {
    return {
      allowed: false,
      never: true,
      state: s,
      remaining: Math.floor(s.level),
      resetMs: resetMs(s.level, p),
      retryAfterMs: 0,
    };
  }
  if (s.level < amount) {
    return {
      allowed: false,
      never: false,
      state: s,
      remaining: Math.floor(s.level),
      resetMs: resetMs(s.level, p),
      retryAfterMs: Math.ceil(((amount - s.level) * p.periodMs) / p.limit),
    };
  }
  const level = s.level - amount;
  return {
    allowed: true,
    never: false,
    state: { level, at: now },
    remaining: Math.floor(level),
    resetMs: resetMs(level, p),
    retryAfterMs: 0,
  };
}

/** Gives back `amount` unused tokens (never above the bucket's size). */
export function refund(
  state: BucketState | undefined,
  amount: number,
  now: number,
  p: BucketParams,
): BucketState {
  const s = refill(state, now, p);
  return { level: Math.min(p.limit, s.level + Math.max(0, amount)), at: now };
}

/** Formats a duration the way OpenAI's x-ratelimit-reset-* headers do: "20ms", "1s", "6m0s". */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
