/**
 * Drives the load. Two modes:
 * - open loop: requests leave at precomputed arrival times (schedule.ts) whatever the server's
 *   pace, optionally capped at --max-concurrency requests in flight; the time a request waits
 *   past its arrival time (for the cap, or for a busy client) is its client queue time and is
 *   not part of its TTFT;
 * - fixed concurrency: C loops, each sending its next request when the last one ends.
 * Warm-up requests run first, the same way, and are not measured.
 */
import type { BenchRequest } from "./datasets.js";
import type { RequestOutcome } from "./metrics.js";

export type LoadMode =
  | { kind: "rate"; offsetsMs: readonly number[]; maxConcurrency?: number }
  | { kind: "concurrency"; concurrency: number };

export type Sender = (req: BenchRequest) => Promise<Omit<RequestOutcome, "startMs" | "queueMs">>;

export interface RunResult {
  outcomes: RequestOutcome[];
  /** Ms from the first request's arrival time to the last answer. */
  durationMs: number;
  /** performance.now() at the measured start. */
  startedAt: number;
}

/** A counting semaphore in arrival order. */
class Gate {
  private waiting: (() => void)[] = [];
  private active = 0;
  constructor(private readonly limit: number) {}
  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function runOpenLoop(
  requests: readonly BenchRequest[],
  offsetsMs: readonly number[],
  maxConcurrency: number | undefined,
  send: Sender,
  onDone: (o: RequestOutcome) => void,
): Promise<RunResult> {
  const gate = maxConcurrency ? new Gate(maxConcurrency) : undefined;
  const startedAt = performance.now();
  const pending: Promise<RequestOutcome>[] = [];
  for (let i = 0; i < requests.length; i++) {
    const due = startedAt + offsetsMs[i]!;
    const wait = due - performance.now();
    if (wait >= 1) await sleep(wait);
    pending.push(
      (async () => {
        await gate?.acquire();
        const sentAt = performance.now();
        try {
          const outcome = {
            ...(await send(requests[i]!)),
            startMs: sentAt - startedAt,
            queueMs: Math.max(0, sentAt - due),
          };
          onDone(outcome);
          return outcome;
        } finally {
          gate?.release();
        }
      })(),
    );
  }
  const outcomes = await Promise.all(pending);
  return { outcomes, durationMs: performance.now() - startedAt, startedAt };
}

async function runClosedLoop(
  requests: readonly BenchRequest[],
  concurrency: number,
  send: Sender,
  onDone: (o: RequestOutcome) => void,
): Promise<RunResult> {
  const startedAt = performance.now();
  const outcomes: RequestOutcome[] = new Array(requests.length);
  let next = 0;
  const loop = async () => {
    while (next < requests.length) {
      const i = next++;
      const sentAt = performance.now();
      const outcome = { ...(await send(requests[i]!)), startMs: sentAt - startedAt, queueMs: 0 };
      outcomes[i] = outcome;
      onDone(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, loop));
  return { outcomes, durationMs: performance.now() - startedAt, startedAt };
}

/** Runs `warmup` then `requests` under `mode`; onDone sees each measured outcome. */
export async function runLoad(
  requests: readonly BenchRequest[],
  warmup: readonly BenchRequest[],
  mode: LoadMode,
  send: Sender,
  onDone: (o: RequestOutcome) => void = () => undefined,
): Promise<RunResult> {
  if (warmup.length > 0) {
    const c =
      mode.kind === "concurrency" ? mode.concurrency : (mode.maxConcurrency ?? warmup.length);
    await runClosedLoop(warmup, c, send, () => undefined);
  }
  return mode.kind === "rate"
    ? runOpenLoop(requests, mode.offsetsMs, mode.maxConcurrency, send, onDone)
    : runClosedLoop(requests, mode.concurrency, send, onDone);
}
