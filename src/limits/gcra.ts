/**
 * GCRA (the generic cell rate algorithm): a request limit as one number per key, the
 * theoretical arrival time (TAT). Pure: the caller passes the time and stores the new TAT.
 * With burst = limit, a fresh key may spend its whole minute at once, then one request every
 * period/limit.
 */
export interface GcraParams {
  /** Requests per period. */
  limit: number;
  periodMs: number;
  /** Requests that may arrive back to back; defaults to limit. */
  burst?: number;
}

export interface GcraResult {
  allowed: boolean;
  /** The TAT to store (unchanged when refused). */
  tat: number;
  remaining: number;
  /** ms until the limit is whole again. */
  resetMs: number;
  /** ms to wait before a retry can pass (0 when allowed). */
  retryAfterMs: number;
}

export function gcra(tat: number | undefined, now: number, p: GcraParams): GcraResult {
  const interval = p.periodMs / p.limit;
  const burst = p.burst ?? p.limit;
  const start = Math.max(tat ?? now, now);
  const next = start + interval;
  const allowAt = next - burst * interval;
  if (now < allowAt) {
    return {
      allowed: false,
      tat: start,
      remaining: 0,
      resetMs: Math.ceil(start - now),
      retryAfterMs: Math.ceil(allowAt - now),
    };
  }
  return {
    allowed: true,
    tat: next,
    remaining: Math.max(0, Math.floor((now - allowAt) / interval)),
    resetMs: Math.ceil(next - now),
    retryAfterMs: 0,
  };
}
