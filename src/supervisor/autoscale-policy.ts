/**
 * When an autoscaled model gains or loses a replica. Pure: the time comes from an injected
 * clock, and the caller looks at the model every `autoscale.intervalMs` and acts on the answer.
 *
 * Up: the queue is under pressure (depth at or above `upQueueDepth`, or the p95 of the waits of
 * the requests that left it since the last look at or above `upQueueWaitMs`) at every look for
 * `upWindowMs`. Down: for `downIdleMs`, nobody waited and the busy slots fit in one replica
 * fewer at no more than `downUtilizationPercent` of its slots. Between the two conditions lies
 * a band where nothing changes (the hysteresis), so a load that just fills the replicas neither
 * grows nor shrinks them. One replica at a time, never outside [min, max], never while a new
 * replica is still loading, and never within `cooldownMs` of the last change or of a refusal.
 * Whether a new replica fits in memory is not decided here: load admission decides, and a
 * refusal comes back through `refused()`.
 */
import type { AutoscaleSettings, ReplicaRange } from "../config/index.js";

export type AutoscaleThresholds = Pick<
  AutoscaleSettings,
  | "upQueueDepth"
  | "upQueueWaitMs"
  | "upWindowMs"
  | "downIdleMs"
  | "downUtilizationPercent"
  | "cooldownMs"
>;

/** What the policy looks at, once per look. */
export interface ScaleSnapshot {
  /** Replicas that count: ready or loading, not being stopped, not unloaded for memory. */
  replicas: number;
  /** Of them, those still loading. */
  starting: number;
  /** Requests waiting in the model's queue. */
  waiting: number;
  /** Slots decoding a request, over every replica. */
  busySlots: number;
  slotsPerReplica: number;
  /** Queue waits, in ms, of the requests that left the queue since the last look. */
  waitsMs: readonly number[];
}

export type ScaleDecision =
  { action: "hold" } | { action: "up" | "down"; from: number; to: number; reason: string };

/** The p-th percentile (nearest rank) of `values`, or undefined when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

export class AutoscalePolicy {
  /** Since when (ms) every look found pressure; undefined when the last one did not. */
  private pressureSince: number | undefined;
  /** Since when (ms) every look found the model idle enough for one replica fewer. */
  private idleSince: number | undefined;
  private lastChangeAt = Number.NEGATIVE_INFINITY;
  private lastPressure = "";

  constructor(
    private readonly range: ReplicaRange,
    private readonly t: AutoscaleThresholds,
    private readonly now: () => number,
  ) {}

  /** Since when the model has been under pressure, or idle, for the status page (epoch ms). */
  state(): {
    pressureSince: number | null;
    idleSince: number | null;
    cooldownUntil: number | null;
  } {
    const until = this.lastChangeAt + this.t.cooldownMs;
    return {
      pressureSince: this.pressureSince ?? null,
      idleSince: this.idleSince ?? null,
      cooldownUntil: until > this.now() ? until : null,
    };
  }

  /** One look at the model: what to do now. */
  decide(s: ScaleSnapshot): ScaleDecision {
    const now = this.now();
    const pressure = this.pressure(s);
    if (pressure) {
      this.pressureSince ??= now;
      this.lastPressure = pressure;
    } else {
      this.pressureSince = undefined;
    }
    const idleRoom = ((s.replicas - 1) * s.slotsPerReplica * this.t.downUtilizationPercent) / 100;
    const idle = s.waiting === 0 && s.busySlots <= idleRoom && s.replicas > this.range.min;
    if (idle) this.idleSince ??= now;
    else this.idleSince = undefined;

    if (s.starting > 0 || now - this.lastChangeAt < this.t.cooldownMs) return { action: "hold" };
    if (s.replicas < this.range.min) {
      return this.change(s.replicas, s.replicas + 1, `below the minimum of ${this.range.min}`);
    }
    if (this.pressureSince !== undefined && s.replicas < this.range.max) {
      const held = now - this.pressureSince;
      if (held >= this.t.upWindowMs) {
        this.pressureSince = now;
        return this.change(s.replicas, s.replicas + 1, `${this.lastPressure} for ${seconds(held)}`);
      }
    }
    if (this.idleSince !== undefined) {
      const held = now - this.idleSince;
      if (held >= this.t.downIdleMs) {
        this.idleSince = now;
        return this.change(
          s.replicas,
          s.replicas - 1,
          `idle for ${seconds(held)}: nobody waiting and ${s.busySlots} busy slot(s) fit in ` +
            `${s.replicas - 1} replica(s) at ${this.t.downUtilizationPercent}% of their slots`,
        );
      }
    }
    return { action: "hold" };
  }

  /**
   * The replica the last "up" asked for was refused (memory admission): the model stays as it
   * is, and the next try waits for the cooldown and a new window of pressure.
   */
  refused(): void {
    this.lastChangeAt = this.now();
    this.pressureSince = undefined;
  }

  /** Why the model is under pressure at this look, or "" when it is not. */
  private pressure(s: ScaleSnapshot): string {
    if (s.waiting >= this.t.upQueueDepth) {
      return `queue depth ${s.waiting} ≥ ${this.t.upQueueDepth}`;
    }
    const p95 = percentile(s.waitsMs, 95);
    if (p95 !== undefined && p95 >= this.t.upQueueWaitMs) {
      return `queue wait p95 ${Math.round(p95)} ms ≥ ${this.t.upQueueWaitMs} ms`;
    }
    return "";
  }

  private change(from: number, to: number, reason: string): ScaleDecision {
    this.lastChangeAt = this.now();
    return { action: to > from ? "up" : "down", from, to, reason };
  }
}
