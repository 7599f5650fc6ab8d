/**
 * Pure auto-ban logic with an injected clock: counts offences per IP in a sliding window and
 * says when an IP crossed its threshold; ban length grows for repeat offenders.
 */
export interface BanPolicy {
  /** Auth failures within the window that ban an IP; 0 disables. */
  authFailures: number;
  /** Rate-limit refusals within the window that ban an IP; 0 disables. */
  rateLimitRefusals: number;
  windowMs: number;
  banMs: number;
  /** Each repeat ban lasts this many times the previous one. */
  escalation: number;
  maxBanMs: number;
}

export type OffenceKind = "auth_failure" | "rate_limited";

/** Where offences are counted: this process (OffenceCounter) or a fleet's shared store. */
export interface OffenceStore {
  /** Records one offence; true when the IP has now reached the threshold (and resets it). */
  record(ip: string, kind: OffenceKind, now: number): Promise<boolean>;
}

/** The threshold of an offence kind under a policy (0: that kind never bans). */
export function offenceThreshold(policy: BanPolicy, kind: OffenceKind): number {
  return kind === "auth_failure" ? policy.authFailures : policy.rateLimitRefusals;
}

/** Sliding-window counters; memory per IP is bounded by the threshold. */
export class OffenceCounter {
  private readonly seen = new Map<string, number[]>();

  constructor(private readonly policy: BanPolicy) {}

  private threshold(kind: OffenceKind): number {
    return offenceThreshold(this.policy, kind);
  }

  /** Records one offence; true when the IP has now reached the threshold (and resets it). */
  record(ip: string, kind: OffenceKind, now: number): boolean {
    const limit = this.threshold(kind);
    if (limit <= 0) return false;
    const key = `${kind}|${ip}`;
    const times = (this.seen.get(key) ?? []).filter((t) => t > now - this.policy.windowMs);
    times.push(now);
    if (times.length >= limit) {
      this.seen.delete(key);
      return true;
    }
    this.seen.set(key, times.slice(-limit));
    if (this.seen.size > 100_000) this.prune(now);
    return false;
  }

  private prune(now: number): void {
    for (const [key, times] of this.seen) {
      if (times[times.length - 1]! <= now - this.policy.windowMs) this.seen.delete(key);
    }
  }
}

/** Length of the n-th ban (n ≥ 1) of one IP. */
export function banDuration(policy: BanPolicy, offence: number): number {
  const ms = policy.banMs * Math.pow(policy.escalation, Math.max(0, offence - 1));
  return Math.min(policy.maxBanMs, Math.round(ms));
}
