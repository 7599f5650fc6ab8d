/** Which replica gets the next request: pure, so the policy is unit tested on its own. */
export interface ReplicaLoad {
  readonly id: string;
  readonly ready: boolean;
  readonly slots: number;
  readonly busy: number;
}

/**
 * The least-loaded ready replica with a free slot: lowest busy/slots ratio, then fewest busy,
 * then the order given (stable, so ties are deterministic).
 */
export function pickReplica<R extends ReplicaLoad>(replicas: readonly R[]): R | undefined {
  let best: R | undefined;
  for (const r of replicas) {
    if (!r.ready || r.busy >= r.slots) continue;
    if (
      !best ||
      r.busy / r.slots < best.busy / best.slots ||
      (r.busy / r.slots === best.busy / best.slots && r.busy < best.busy)
    ) {
      best = r;
    }
  }
  return best;
}

/** Retry-After for a full queue: the time the queue would take to drain at the observed rate. */
export function retryAfterSeconds(waiting: number, freeSlotsPerSecond: number): number {
  if (!(freeSlotsPerSecond > 0)) return 1;
  return Math.min(60, Math.max(1, Math.ceil(waiting / freeSlotsPerSecond)));
}
