/**
 * The lifecycle pieces both process-backed replicas (node-llama-cpp worker, llama-server) share:
 * the child process's exit (its reason, a promise settled by it, the callbacks told of it), the
 * drain before a stop (remote backends drain with it too) and the kill of a process slow to stop.
 */
import type { ChildProcess } from "node:child_process";

/** How long a process asked to stop gets before it is killed. */
const STOP_KILL_MS = 5_000;
/** How often a drain looks at the running jobs. */
const DRAIN_POLL_MS = 20;

export class ChildExit {
  /** Why the process exited; undefined while it runs. */
  reason: string | undefined;
  /** Settles once the exit is announced. */
  readonly exited: Promise<void>;
  private markExited!: () => void;
  private readonly callbacks: ((reason: string) => void)[] = [];

  constructor() {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
  }

  onExit(callback: (reason: string) => void): void {
    this.callbacks.push(callback);
  }

  /** Records the exit's reason; false when an exit was already recorded. */
  record(reason: string): boolean {
    if (this.reason !== undefined) return false;
    this.reason = reason;
    return true;
  }

  /** Settles `exited` and tells the callbacks (after the replica has ended its jobs). */
  announce(): void {
    this.markExited();
    for (const callback of this.callbacks) callback(this.reason!);
  }
}

/** Waits until no job runs or the deadline passes. */
export async function drainJobs(
  jobs: { readonly size: number },
  deadlineMs: number,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (jobs.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  }
}

/** Waits for the exit of a process asked to stop, killing it when it takes too long. */
export async function awaitStop(child: ChildProcess | undefined, exit: ChildExit): Promise<void> {
  const killTimer = setTimeout(() => child?.kill("SIGKILL"), STOP_KILL_MS);
  await exit.exited;
  clearTimeout(killTimer);
}
