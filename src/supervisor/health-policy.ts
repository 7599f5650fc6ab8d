/** Pure decisions of the supervisor: restart backoff and the watchdog's verdict on a worker. */

/** Delay before restart number `failures` (1-based): initial × 2^(failures−1), capped. */
export function backoffDelayMs(failures: number, initialMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
}

export interface WorkerSignals {
  /** Epoch ms of the last message from the worker. */
  lastHeartbeatAt: number;
  /** Epoch ms of the last token, or of the start of its oldest running job. */
  lastProgressAt: number;
  activeJobs: number;
}

export interface WatchdogLimits {
  heartbeatTimeoutMs: number;
  progressTimeoutMs: number;
}

export type WatchdogVerdict = "ok" | "silent" | "hung";

/**
 * "silent": no heartbeat for heartbeatTimeoutMs (event loop blocked or process frozen).
 * "hung": busy but no token for progressTimeoutMs (alive, but generation is stuck).
 */
export function watchdogVerdict(
  signals: WorkerSignals,
  now: number,
  limits: WatchdogLimits,
): WatchdogVerdict {
  if (now - signals.lastHeartbeatAt > limits.heartbeatTimeoutMs) return "silent";
  if (signals.activeJobs > 0 && now - signals.lastProgressAt > limits.progressTimeoutMs) {
    return "hung";
  }
  return "ok";
}
