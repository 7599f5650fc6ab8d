/**
 * The memory check before a registry model loads (start, promotion, reload of a repaired file).
 * It is load admission's rule, run once for the whole model before any worker is touched, so a
 * promotion that does not fit is refused while the old version keeps serving: the estimate,
 * added to the memory in use and to the loads still pending, must stay under
 * `guards.warnPercent` of the limit; otherwise `model_load_refused_memory` (503, Retry-After)
 * with the numbers, from admission's `checkLoad`.
 */
import {
  checkLoad,
  type LoadSpec,
  type MemoryEstimate,
  type MemoryEstimator,
  type MemoryReading,
} from "../guards/index.js";

/**
 * A whole model's estimate: `replicas` times one replica's (weights, KV cache, process). The
 * weights count once per replica, as admission counts them for each replica it admits, so a
 * model that passes here is not then refused replica by replica on the same reading; replicas
 * share the mmapped pages, so this errs towards refusing early.
 */
export async function estimateModel(
  estimator: MemoryEstimator,
  spec: LoadSpec,
  replicas: number,
): Promise<MemoryEstimate> {
  const one = await estimator.estimate(spec);
  return {
    totalBytes: one.totalBytes * replicas,
    weightsBytes: one.weightsBytes * replicas,
    kvCacheBytes: one.kvCacheBytes * replicas,
    overheadBytes: one.overheadBytes * replicas,
  };
}

export interface ModelLoad {
  /** The model as the message names it, e.g. `stories:2`. */
  model: string;
  spec: LoadSpec;
  replicas: number;
}

/** Throws model_load_refused_memory, with the numbers, when the model does not fit. */
export async function assertModelFits(
  load: ModelLoad,
  deps: {
    estimator: MemoryEstimator;
    memory: () => Promise<MemoryReading>;
    /** Bytes of loads admitted but not yet in `memory` (earlier models of the same start). */
    pendingBytes: number;
    warnPercent: number;
  },
): Promise<MemoryEstimate> {
  const estimate = await estimateModel(deps.estimator, load.spec, load.replicas);
  const refusal = checkLoad(
    load.model,
    estimate,
    await deps.memory(),
    deps.pendingBytes,
    deps.warnPercent,
    load.replicas,
  );
  if (refusal) throw refusal;
  return estimate;
}
