/**
 * Acts on the monitor's samples: keeps the pressure level (with hysteresis), steps each
 * model's degradation ladder, sheds new generation requests at the shed level, and at the
 * reclaim level frees memory in order: clear the caches and unload idle replicas at once, then,
 * while use stays above, once per cooldown, unload the least recently used idle model, or stop
 * the largest worker when no model is idle. The time is injected.
 */
import type { ReplicaSpec } from "../engine/index.js";
import type { Logger } from "../observability/index.js";
import { DegradationLadder, type Degradation, type LadderSettings } from "./ladder.js";
import {
  levelRank,
  PressureLevels,
  type LevelChange,
  type PressureLevel,
  type Thresholds,
} from "./levels.js";
import type { ResourceSample } from "./readings.js";

/** What the guard may do to free memory; main.ts implements it over the model hosts. */
export interface ReclaimTarget {
  /** Empties every cache that can be rebuilt; returns the names of the caches cleared. */
  clearCaches(): string[];
  /** Unloads idle replicas (keeping one ready per model); returns their ids. */
  unloadIdle(): string[];
  /** Unloads the least recently used idle model whole; returns its name, if one was. */
  unloadIdleModel(): string | undefined;
  /** Kills the worker with the largest RSS (its requests re-queue); returns which, if any. */
  stopLargestWorker(): { model: string; replica: string; rssBytes: number } | undefined;
  /** Loads again what unloadIdle() unloaded (a model unloaded whole waits for a request). */
  reloadUnloaded(): void;
}

export interface GuardOptions extends Thresholds {
  reclaimCooldownMs: number;
  ladderStepMs: number;
  ladders: Record<string, LadderSettings>;
  reclaim: ReclaimTarget;
  logger: Logger;
  now?: () => number;
  /** Called on every level change (alerts and metrics listen). */
  onLevel?: (change: LevelChange) => void;
  /** Called when a model's ladder step changes, with the rung it left and the one it took. */
  onLadder?: (model: string, before: Degradation, after: Degradation) => void;
}

export interface ShedDecision {
  retryAfterSeconds: number;
  percent: number;
  level: PressureLevel;
}

export interface GuardAction {
  at: number;
  action: string;
  detail: string;
}

export class MemoryGuard {
  private readonly levels: PressureLevels;
  private readonly ladders = new Map<string, DegradationLadder>();
  private readonly now: () => number;
  private readonly log: Logger;
  private last: ResourceSample | undefined;
  private reclaimStage = 0;
  private lastReclaimAt = -Infinity;
  private readonly actions: GuardAction[] = [];

  constructor(private readonly o: GuardOptions) {
    this.levels = new PressureLevels(o);
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ component: "guard" });
    for (const [model, settings] of Object.entries(o.ladders)) {
      this.ladders.set(model, new DegradationLadder(settings, o.ladderStepMs));
    }
  }

  get level(): PressureLevel {
    return this.levels.level;
  }

  /** Takes one sample from the monitor. */
  observe(sample: ResourceSample): void {
    this.last = sample;
    const now = this.now();
    const change = this.levels.update(sample.memoryPercent);
    if (change) this.onChange(change, sample);
    const pressed = levelRank(this.level) >= levelRank("warn");
    for (const [model, ladder] of this.ladders) {
      const before = ladder.current();
      if (ladder.update(pressed, now)) {
        const d = ladder.current();
        this.record("ladder", `${model}: step ${d.step} (${d.name})`);
        this.log.warn({ model, step: d.step, rung: d.name }, "degradation ladder moved");
        this.o.onLadder?.(model, before, d);
      }
    }
    if (this.level === "reclaim") this.reclaim(now);
  }

  private onChange(change: LevelChange, sample: ResourceSample): void {
    const fields = {
      from: change.from,
      to: change.to,
      percent: Math.round(change.percent * 10) / 10,
      usedBytes: sample.memory.usedBytes,
      limitBytes: sample.memory.limitBytes,
      source: sample.memory.source,
    };
    const up = levelRank(change.to) > levelRank(change.from);
    if (up) this.log.warn(fields, `memory pressure: ${change.to}`);
    else this.log.info(fields, `memory pressure eased: ${change.to}`);
    this.record("level", `${change.from} → ${change.to} at ${fields.percent}%`);
    if (levelRank(change.to) < levelRank("reclaim")) this.reclaimStage = 0;
    if (change.to === "ok") {
      this.o.reclaim.reloadUnloaded();
    }
    this.o.onLevel?.(change);
  }

  private reclaim(now: number): void {
    if (now - this.lastReclaimAt < this.o.reclaimCooldownMs) return;
    this.lastReclaimAt = now;
    if (this.reclaimStage === 0) {
      const caches = this.o.reclaim.clearCaches();
      this.record("clear_caches", caches.length > 0 ? caches.join(", ") : "no cache to clear");
      const unloaded = this.o.reclaim.unloadIdle();
      this.record("unload_idle", unloaded.length > 0 ? unloaded.join(", ") : "no idle replica");
      this.log.warn({ caches, unloaded }, "memory reclaim: cleared caches, unloaded idle replicas");
      this.reclaimStage = 1;
      return;
    }
    const model = this.o.reclaim.unloadIdleModel();
    if (model) {
      this.record("unload_idle_model", model);
      this.log.warn({ model }, "memory reclaim: unloaded an idle model");
      return;
    }
    const stopped = this.o.reclaim.stopLargestWorker();
    this.record(
      "stop_largest_worker",
      stopped ? `${stopped.replica} (${stopped.rssBytes} bytes)` : "no worker to stop",
    );
    if (stopped) {
      this.log.warn(
        { stopped },
        "memory reclaim: stopped the largest worker; its requests re-queue",
      );
    } else {
      this.log.warn("memory reclaim: no idle model to unload and no worker to stop");
    }
  }

  private record(action: string, detail: string): void {
    this.actions.push({ at: this.now(), action, detail });
    if (this.actions.length > 20) this.actions.shift();
  }

  /** Set while new generation requests must be refused. */
  shedding(): ShedDecision | undefined {
    if (levelRank(this.level) < levelRank("shed")) return undefined;
    return {
      retryAfterSeconds: Math.max(1, Math.ceil(this.o.reclaimCooldownMs / 1000)),
      percent: this.last?.memoryPercent ?? 0,
      level: this.level,
    };
  }

  degradation(model: string): Degradation {
    return this.ladders.get(model)?.current() ?? { step: 0, name: "normal" };
  }

  /** The max_tokens cap the ladder imposes on a model now, if any. */
  maxTokensCap(model: string): number | undefined {
    return this.degradation(model).maxTokens;
  }

  /** A worker spec as the ladder wants new workers now (fewer slots, smaller variant). */
  adjustSpec(spec: ReplicaSpec): ReplicaSpec {
    const d = this.degradation(spec.modelName);
    if (d.step === 0) return spec;
    return {
      ...spec,
      slots: d.slots ?? spec.slots,
      contextSize: d.contextSize ?? spec.contextSize,
      modelPath: d.variantPath ?? spec.modelPath,
    };
  }

  /** The guard's state for /health and the admin route. */
  health() {
    const s = this.last;
    return {
      level: this.level,
      shedding: this.shedding() !== undefined,
      memory: s
        ? {
            source: s.memory.source,
            used_bytes: s.memory.usedBytes,
            limit_bytes: s.memory.limitBytes,
            percent: Math.round(s.memoryPercent * 10) / 10,
          }
        : null,
      cpu_percent: s ? Math.round(s.cpuRatio * 1000) / 10 : null,
      thresholds: {
        warn_percent: this.o.warnPercent,
        shed_percent: this.o.shedPercent,
        reclaim_percent: this.o.reclaimPercent,
        resume_percent: this.levels.resumePercent,
      },
      processes: (s?.processes ?? []).map((p) => ({
        role: p.role,
        pid: p.pid,
        model: p.model ?? null,
        replica: p.replica ?? null,
        rss_bytes: p.rssBytes,
        cpu_percent: Math.round(p.cpuRatio * 1000) / 10,
      })),
      degradation: Object.fromEntries(
        [...this.ladders.keys()].map((m) => {
          const d = this.degradation(m);
          return [m, { step: d.step, name: d.name }];
        }),
      ),
      recent_actions: this.actions.map((a) => ({ ...a, at: new Date(a.at).toISOString() })),
    };
  }
}
