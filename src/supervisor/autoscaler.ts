/**
 * Runs the autoscale policy for one model: looks at its queue and slots every
 * `autoscale.intervalMs`, and turns the policy's "up" and "down" into a replica added or
 * drained by the ReplicaManager. Every decision is logged, counted (through the host observer)
 * and kept for /health. Memory admission has the last word on every added replica: a refusal
 * comes back through `refused()` with its reason.
 */
import type { AutoscaleState } from "../engine/index.js";
import type { BulwarkError } from "../errors/index.js";
import type { AutoscaleSettings, ReplicaRange } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import { AutoscalePolicy } from "./autoscale-policy.js";
import type { ReplicaCounts } from "./replica-manager.js";

/** How long a replica stopped by a scale-down may take to finish its running requests. */
const SCALE_DOWN_DRAIN_MS = 5 * 60_000;
/** Decisions kept for /health. */
const RECENT = 10;

/** Waits kept between two looks (a burst cannot grow the buffer without bound). */
const MAX_WAITS = 4096;

export type AutoscaleAction = "up" | "down" | "up_refused";

export interface AutoscaleEvent {
  /** Epoch ms. */
  at: number;
  action: AutoscaleAction;
  from: number;
  to: number;
  replica: string | null;
  reason: string;
}

/** What the autoscaler drives: the model's replica set. */
export interface ScalableSet {
  counts(): ReplicaCounts;
  grow(): string | undefined;
  shrink(drainMs: number): string | undefined;
}

export interface AutoscalerDeps {
  model: string;
  range: ReplicaRange;
  settings: AutoscaleSettings;
  replicas: ScalableSet;
  /** The model's queue depth and busy slots now. */
  load(): { waiting: number; busySlots: number };
  slotsPerReplica: number;
  /** False while the model must not change (closing, or unloaded whole for memory). */
  active(): boolean;
  logger: Logger;
  /** Counts each decision (the Prometheus counter). */
  decided?(model: string, action: AutoscaleAction): void;
}

export class Autoscaler {
  private readonly policy: AutoscalePolicy;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private waits: number[] = [];
  private readonly recent: AutoscaleEvent[] = [];
  private readonly counts: Record<AutoscaleAction, number> = { up: 0, down: 0, up_refused: 0 };
  /** The replica count an "up" in progress started from, until it loads or is refused. */
  private growingFrom: number | undefined;

  constructor(
    private readonly deps: AutoscalerDeps,
    private readonly now: () => number = Date.now,
  ) {
    this.policy = new AutoscalePolicy(deps.range, deps.settings, now);
    this.log = deps.logger.child({ component: "autoscale", model: deps.model });
  }

  /** Starts looking at the model every `intervalMs`. */
  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.deps.settings.intervalMs);
    this.timer.unref();
  }

  /** A request left the queue after waiting `ms`. */
  queueWait(ms: number): void {
    if (this.waits.length < MAX_WAITS) this.waits.push(ms);
  }

  /** One look: asks the policy and acts on its answer. */
  tick(): void {
    const waitsMs = this.waits;
    this.waits = [];
    if (!this.deps.active()) return;
    const counts = this.deps.replicas.counts();
    // The memory guard has unloaded replicas: it is in charge until it loads them again.
    if (counts.parked > 0) return;
    const decision = this.policy.decide({
      ...this.deps.load(),
      replicas: counts.replicas,
      starting: counts.starting,
      slotsPerReplica: this.deps.slotsPerReplica,
      waitsMs,
    });
    if (decision.action === "hold") return;
    if (decision.action === "up") {
      this.growingFrom = decision.from;
      const id = this.deps.replicas.grow();
      this.record("up", decision.from, decision.to, id, decision.reason);
    } else {
      const id = this.deps.replicas.shrink(SCALE_DOWN_DRAIN_MS);
      if (id) this.record("down", decision.from, decision.to, id, decision.reason);
    }
  }

  /** Memory admission refused the replica the last "up" added. */
  refused(error: BulwarkError): void {
    this.policy.refused();
    const from = this.growingFrom ?? this.deps.replicas.counts().replicas;
    this.growingFrom = undefined;
    this.record("up_refused", from + 1, from, null, error.message);
  }

  /** The model's autoscale part of its /health entry. */
  status(): AutoscaleState {
    return {
      min: this.deps.range.min,
      max: this.deps.range.max,
      replicas: this.deps.replicas.counts().replicas,
      ...this.policy.state(),
      decisions: { ...this.counts },
      recent: [...this.recent],
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private record(
    action: AutoscaleAction,
    from: number,
    to: number,
    replica: string | undefined | null,
    reason: string,
  ): void {
    const event: AutoscaleEvent = {
      at: this.now(),
      action,
      from,
      to,
      replica: replica ?? null,
      reason,
    };
    this.recent.unshift(event);
    this.recent.length = Math.min(this.recent.length, RECENT);
    this.counts[action]++;
    this.deps.decided?.(this.deps.model, action);
    const fields = { action, from, to, replica: event.replica, reason };
    if (action === "up_refused") {
      this.log.warn(fields, "autoscale: replica refused by memory admission; staying at " + to);
    } else {
      this.log.info(fields, `autoscale: ${action === "up" ? "adding" : "stopping"} a replica`);
    }
  }
}
