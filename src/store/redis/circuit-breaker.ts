/**
 * A circuit breaker with an injected clock: after `failures` consecutive failed calls the
 * circuit opens and calls are not tried for `cooldownMs`; then one trial call may pass
 * (half-open): its success closes the circuit, its failure opens it for another cooldown.
 * Pure: the caller reports each outcome.
 */
export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  failures: number;
  cooldownMs: number;
}

export class CircuitBreaker {
  private consecutive = 0;
  private openedAt: number | undefined;
  private trialAt: number | undefined;

  constructor(
    private readonly options: BreakerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.openedAt === undefined) return "closed";
    return this.now() - this.openedAt >= this.options.cooldownMs ? "half-open" : "open";
  }

  /** Whether a call may be tried now; in half-open, one trial at a time per cooldown. */
  allow(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open") return false;
    const now = this.now();
    if (this.trialAt !== undefined && now - this.trialAt < this.options.cooldownMs) return false;
    this.trialAt = now;
    return true;
  }

  success(): void {
    this.consecutive = 0;
    this.openedAt = undefined;
    this.trialAt = undefined;
  }

  failure(): void {
    this.consecutive++;
    if (this.openedAt !== undefined || this.consecutive >= this.options.failures) {
      this.openedAt = this.now();
      this.trialAt = undefined;
    }
  }

  /** ms until a trial call may pass (0 when closed or half-open). */
  retryInMs(): number {
    if (this.openedAt === undefined) return 0;
    return Math.max(0, this.options.cooldownMs - (this.now() - this.openedAt));
  }
}
