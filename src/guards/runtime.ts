/**
 * The memory protection of the whole server, assembled from the parts main.ts chose: the
 * resource monitor samples memory and the processes, the memory guard turns samples into
 * levels and reclaim actions over the model hosts, and load admission checks every load
 * against its estimate. It reads memory and decides levels; what it sees goes out through a
 * `GuardObserver` (telemetry), and it builds no metric or alert itself.
 */
import type { Config } from "../config/index.js";
import type { ReplicaFactory, ReplicaSpec } from "../engine/index.js";
import type { GuardObserver, Logger, MetricsState } from "../observability/index.js";
import type { ModelHost } from "../supervisor/index.js";
import { LoadAdmission } from "./admission.js";
import type { MemoryEstimator } from "./estimator.js";
import { levelRank } from "./levels.js";
import type { Degradation } from "./ladder.js";
import { MemoryGuard, type ReclaimTarget } from "./memory-guard.js";
import { ResourceMonitor } from "./monitor.js";
import type { MemorySource, ProcessProbe, ProcessRef } from "./readings.js";

export interface GuardRuntimeOptions {
  settings: Readonly<Config["guards"]>;
  logger: Logger;
  /** The model hosts, read lazily (they are built after the runtime). */
  hosts: () => readonly ModelHost[];
  /** Caches the reclaim step may empty. */
  caches: { name: string; clear(): number }[];
  memory: MemorySource;
  probe: ProcessProbe;
  estimator: MemoryEstimator;
  observer: GuardObserver;
}

/** The gauges the guard feeds, read at scrape time. */
export type GuardGauges = Pick<MetricsState, "resources" | "guardLevel" | "degradationSteps">;

export class GuardRuntime {
  readonly monitor: ResourceMonitor;
  readonly guard: MemoryGuard;
  readonly admission: LoadAdmission;
  readonly memory: MemorySource;

  constructor(private readonly o: GuardRuntimeOptions) {
    const { settings: g, logger, memory, observer } = o;
    this.memory = memory;
    this.monitor = new ResourceMonitor({
      memory,
      probe: o.probe,
      processes: () => this.processes(),
      intervalMs: g.sampleIntervalMs,
    });
    this.guard = new MemoryGuard({
      ...g,
      ladders: Object.fromEntries(g.ladder.map((l) => [l.model, l])),
      reclaim: this.reclaimTarget(),
      logger,
      onLadder: (model, before, after) => {
        const spec = (d: Degradation) => [d.slots, d.contextSize, d.variantPath].join("|");
        if (spec(before) === spec(after)) return;
        const fits = (spec: ReplicaSpec, freedBytes: number) =>
          this.admission.fitsAfterFreeing(spec, freedBytes);
        for (const h of this.o.hosts()) if (h.name === model) h.renewWorkers(fits);
      },
      onLevel: (change) =>
        observer.memoryLevel(change.to, change.percent, levelRank(change.to) > 0),
    });
    this.monitor.onSample((sample) => {
      this.guard.observe(sample);
      observer.resources(sample.memoryPercent, sample.cpuRatio);
    });
    this.admission = new LoadAdmission({
      estimator: o.estimator,
      // Read fresh: a load often follows a worker's exit that the last sample predates.
      memory: () => memory.read(),
      warnPercent: g.warnPercent,
      adjust: (spec) => this.guard.adjustSpec(spec),
      onRefused: (spec, err) => {
        observer.loadRefused(spec.modelName);
        logger.warn(
          { model: spec.modelName, replica: spec.id, err: err.message },
          "model load refused",
        );
      },
    });
  }

  /** Sum of the RSS of the gateway and every worker at the last sample (for a budget source). */
  ownRssBytes(): number {
    return this.monitor.ownRssBytes();
  }

  /** The processes the monitor samples: the gateway and every live worker. */
  private processes(): ProcessRef[] {
    const refs: ProcessRef[] = [{ role: "gateway", pid: process.pid }];
    for (const host of this.o.hosts()) {
      for (const r of host.status().replicas) {
        if (r.state === "stopped" || r.state === "unloaded" || r.state === "dead") continue;
        refs.push({
          role: "worker",
          pid: r.pid,
          model: host.name,
          replica: r.id,
          reportedRssBytes: r.rssBytes,
        });
      }
    }
    return refs;
  }

  private reclaimTarget(): ReclaimTarget {
    return {
      clearCaches: () => this.o.caches.filter((c) => c.clear() >= 0).map((c) => c.name),
      unloadIdle: () => this.o.hosts().flatMap((h) => h.unloadIdle(1)),
      unloadIdleModel: () => {
        if (!this.o.settings.unloadIdleModels) return undefined;
        const idle = this.o
          .hosts()
          .filter((h) => !h.isUnloaded())
          .map((h) => ({ h, since: h.idleSince() }))
          .filter((x): x is { h: ModelHost; since: number } => x.since !== undefined)
          .sort((x, y) => x.since - y.since);
        for (const { h } of idle) if (h.unloadModel()) return h.name;
        return undefined;
      },
      stopLargestWorker: () => {
        const workers = (this.monitor.last()?.processes ?? []).filter(
          (p) => p.role === "worker" && p.replica,
        );
        workers.sort((x, y) => y.rssBytes - x.rssBytes);
        for (const w of workers) {
          const host = this.o.hosts().find((h) => h.name === w.model);
          if (host?.killReplica(w.replica!, "stopped to free memory (reclaim)")) {
            return { model: w.model!, replica: w.replica!, rssBytes: w.rssBytes };
          }
        }
        return undefined;
      },
      reloadUnloaded: () => {
        for (const h of this.o.hosts()) h.reloadUnloaded();
      },
    };
  }

  /** Wraps the replica factory with load admission. */
  wrapFactory(factory: ReplicaFactory): ReplicaFactory {
    return this.admission.wrap(factory);
  }

  start(): void {
    this.monitor.start();
  }

  close(): void {
    this.monitor.close();
  }
}

/** The guard's gauges: its last sample, level and ladder steps (zero while it is off); the
 * runtime is read at scrape time. */
export function guardGauges(
  settings: Readonly<Config["guards"]>,
  runtime: () => GuardRuntime | undefined,
): GuardGauges {
  return {
    resources: () => {
      const s = runtime()?.monitor.last();
      if (!s) return undefined;
      return {
        memoryUsedBytes: s.memory.usedBytes,
        memoryLimitBytes: s.memory.limitBytes,
        cpuRatio: s.cpuRatio,
        processes: s.processes,
      };
    },
    guardLevel: () => {
      const r = runtime();
      return r ? levelRank(r.guard.level) : 0;
    },
    degradationSteps: () =>
      settings.ladder.map((l) => ({
        model: l.model,
        step: runtime()?.guard.degradation(l.model).step ?? 0,
      })),
  };
}
