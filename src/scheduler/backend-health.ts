/**
 * The health of one remote backend: a circuit breaker fed by passive outcomes (each request's
 * connection error, timeout, 5xx or unreadable answer, and each success) and by the active
 * health checks. Pure, with an injected clock: the caller runs the checks and reports.
 *
 * starting → (a check passes) → healthy → (`failures` in a row) → ejected → (cooldown) →
 * half-open: one probe (an active check, never a client's request) → healthy, or ejected again
 * with the cooldown doubled, up to MAX_COOLDOWN_FACTOR times the base.
 */
export type HealthState = "starting" | "healthy" | "ejected" | "half-open";

export interface BackendHealthOptions {
  /** Consecutive failures that eject a healthy backend. */
  failures: number;
  /** Rest before the first half-open probe, in ms. */
  cooldownMs: number;
}

/** The longest rest, as a multiple of cooldownMs. */
export const MAX_COOLDOWN_FACTOR = 12;

export class BackendHealth {
  private current: HealthState = "starting";
  private consecutive = 0;
  private cooldown: number;
  private ejectedAt = 0;
  /** Times the backend was ejected. */
  ejections = 0;

  constructor(
    private readonly options: BackendHealthOptions,
    private readonly now: () => number,
  ) {
    this.cooldown = options.cooldownMs;
  }

  get state(): HealthState {
    return this.current;
  }

  /** Whether requests may be sent. */
  get serving(): boolean {
    return this.current === "healthy";
  }

  /**
   * A request or check failed. Returns true when this failure ejects the backend (the caller
   * then stops sending to it).
   */
  failure(): boolean {
    this.consecutive++;
    if (this.current !== "healthy" || this.consecutive < this.options.failures) return false;
    this.eject();
    return true;
  }

  /** A request or a check while healthy succeeded. */
  success(): void {
    if (this.current === "healthy") this.consecutive = 0;
  }

  private eject(): void {
    this.current = "ejected";
    this.ejectedAt = this.now();
    this.ejections++;
  }

  /**
   * Whether the next active check is a probe that may bring the backend back: at start, and
   * once an ejected backend has rested its cooldown (it is then half-open until the result).
   */
  probeDue(): boolean {
    if (this.current === "starting" || this.current === "half-open") return true;
    if (this.current === "ejected" && this.now() - this.ejectedAt >= this.cooldown) {
      this.current = "half-open";
      return true;
    }
    return false;
  }

  /** A probe's result: true when it brings the backend (back) into service. */
  probeResult(ok: boolean): boolean {
    if (this.current !== "starting" && this.current !== "half-open") return false;
    if (ok) {
      this.current = "healthy";
      this.consecutive = 0;
      this.cooldown = this.options.cooldownMs;
      return true;
    }
    if (this.current === "half-open") {
      this.cooldown = Math.min(this.cooldown * 2, this.options.cooldownMs * MAX_COOLDOWN_FACTOR);
      this.current = "ejected";
      this.ejectedAt = this.now();
    }
    return false;
  }

  /** ms until the next half-open probe (0 when one is due or the backend serves). */
  retryInMs(): number {
    if (this.current !== "ejected") return 0;
    return Math.max(0, this.cooldown - (this.now() - this.ejectedAt));
  }
}
