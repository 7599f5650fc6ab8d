/**
 * Admission of model and replica loads: a load whose estimate, added to the memory in use and
 * to the loads still in progress, would cross the warn threshold is refused with the numbers.
 * It wraps the replica factory, so every load (first start, restart, reload) passes through it.
 */
import { BulwarkError } from "../errors/index.js";
import type {
  EngineReplica,
  ModelInfo,
  ReplicaFactory,
  ReplicaSpec,
  ReplicaState,
} from "../engine/index.js";
import type { MemoryEstimate, MemoryEstimator } from "./estimator.js";
import type { MemoryReading } from "./readings.js";

export interface AdmissionDeps {
  estimator: MemoryEstimator;
  /** The latest memory reading (taken fresh when there is none yet). */
  memory: () => Promise<MemoryReading>;
  warnPercent: number;
  /** Degrades a spec for the current ladder step (fewer slots, smaller variant). */
  adjust?: (spec: ReplicaSpec) => ReplicaSpec;
  onRefused?: (spec: ReplicaSpec, error: BulwarkError) => void;
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * The refusal, or undefined when the load fits under the warn threshold. The one rule for every
 * load: each replica spawn here, and the registry's check of a whole model (`replicas` of them,
 * summed in `estimate`) before a start or a promotion.
 */
export function checkLoad(
  modelName: string,
  estimate: MemoryEstimate,
  memory: MemoryReading,
  reservedBytes: number,
  warnPercent: number,
  replicas = 1,
): BulwarkError | undefined {
  const ceiling = (memory.limitBytes * warnPercent) / 100;
  const after = memory.usedBytes + reservedBytes + estimate.totalBytes;
  if (after <= ceiling) return undefined;
  const what = replicas === 1 ? "a replica" : `${replicas} replicas`;
  return new BulwarkError(
    "model_load_refused_memory",
    `Loading ${what} of model ${modelName} needs an estimated ${mib(estimate.totalBytes)} ` +
      `(weights ${mib(estimate.weightsBytes)}, KV cache ${mib(estimate.kvCacheBytes)}, process ` +
      `${mib(estimate.overheadBytes)}); ${mib(memory.usedBytes)} is in use` +
      (reservedBytes > 0 ? ` and ${mib(reservedBytes)} is reserved by loads in progress` : "") +
      `, which would make ${mib(after)} of the ${mib(memory.limitBytes)} limit ` +
      `(${((after / memory.limitBytes) * 100).toFixed(1)}%), over the warn threshold of ` +
      `${warnPercent}% (${mib(ceiling)}).`,
    { retryAfterSeconds: 30 },
  );
}

export class LoadAdmission {
  private readonly reserved = new Map<string, number>();

  constructor(private readonly deps: AdmissionDeps) {}

  /** Bytes reserved by loads admitted but not finished. */
  reservedBytes(): number {
    let n = 0;
    for (const v of this.reserved.values()) n += v;
    return n;
  }

  /** The refusal of a load of `spec`, if any, counting `freedBytes` as already freed. */
  private async judge(spec: ReplicaSpec, freedBytes = 0) {
    const estimate = await this.deps.estimator.estimate(spec);
    const memory = await this.deps.memory();
    const used = { ...memory, usedBytes: Math.max(0, memory.usedBytes - freedBytes) };
    const refusal = checkLoad(
      spec.modelName,
      estimate,
      used,
      this.reservedBytes(),
      this.deps.warnPercent,
    );
    return { estimate, refusal };
  }

  /**
   * Whether a worker of `spec` (as the ladder adjusts it) would be admitted once a worker
   * holding `freedBytes` is stopped: the check before replacing a running worker.
   */
  async fitsAfterFreeing(spec: ReplicaSpec, freedBytes: number): Promise<boolean> {
    const adjusted = this.deps.adjust ? this.deps.adjust(spec) : spec;
    return (await this.judge(adjusted, freedBytes)).refusal === undefined;
  }

  /** Admits one load or throws model_load_refused_memory; returns the release of its reservation. */
  async admit(spec: ReplicaSpec): Promise<() => void> {
    const { estimate, refusal } = await this.judge(spec);
    if (refusal) {
      this.deps.onRefused?.(spec, refusal);
      throw refusal;
    }
    this.reserved.set(spec.id, estimate.totalBytes);
    return () => this.reserved.delete(spec.id);
  }

  /** Wraps a factory: each replica it builds is admitted before its worker is started. */
  wrap(factory: ReplicaFactory): ReplicaFactory {
    return (spec) =>
      new AdmittedReplica(this.deps.adjust ? this.deps.adjust(spec) : spec, factory, this);
  }
}

/**
 * A replica that asks for admission before it starts the real one (built at once, since
 * building forks nothing). Refused, it ends like a failed load and the supervisor retries
 * with backoff; every other call goes to the real replica.
 */
class AdmittedReplica implements EngineReplica {
  readonly id: string;
  readonly modelName: string;
  readonly slots: number;
  private readonly inner: EngineReplica;
  private started = false;
  private ended: ReplicaState | undefined;
  private readonly exitCallbacks: ((reason: string) => void)[] = [];

  constructor(
    private readonly spec: ReplicaSpec,
    factory: ReplicaFactory,
    private readonly admission: LoadAdmission,
  ) {
    this.id = spec.id;
    this.modelName = spec.modelName;
    this.slots = spec.slots;
    this.inner = factory(spec);
  }

  async start(): Promise<ModelInfo> {
    const release = await this.admission.admit(this.spec);
    try {
      if (this.ended) throw new Error("stopped before loading");
      this.started = true;
      return await this.inner.start();
    } finally {
      release();
    }
  }

  state(): ReplicaState {
    return this.ended ?? this.inner.state();
  }
  info(): ModelInfo | undefined {
    return this.inner.info();
  }
  prepare(...a: Parameters<EngineReplica["prepare"]>) {
    return this.inner.prepare(...a);
  }
  generate(...a: Parameters<EngineReplica["generate"]>) {
    this.inner.generate(...a);
  }
  abort(jobId: string) {
    this.inner.abort(jobId);
  }
  embed(...a: Parameters<EngineReplica["embed"]>) {
    return this.inner.embed(...a);
  }
  detokenize(...a: Parameters<EngineReplica["detokenize"]>) {
    return this.inner.detokenize(...a);
  }
  stats() {
    return this.inner.stats();
  }
  lastHeartbeatAt() {
    return this.inner.lastHeartbeatAt();
  }
  lastProgressAt() {
    return this.inner.lastProgressAt();
  }
  activeJobs() {
    return this.inner.activeJobs();
  }
  onExit(callback: (reason: string) => void): void {
    this.exitCallbacks.push(callback);
    this.inner.onExit(callback);
  }
  async stop(deadlineMs: number): Promise<void> {
    if (this.started) return this.inner.stop(deadlineMs);
    this.end("stopped", "stopped");
  }
  kill(reason: string): void {
    if (this.started) return this.inner.kill(reason);
    this.end("dead", reason);
  }
  /** Ends a replica that never started (refused, or stopped while waiting for admission). */
  private end(state: ReplicaState, reason: string): void {
    if (this.ended) return;
    this.ended = state;
    for (const cb of this.exitCallbacks) cb(reason);
  }
}
