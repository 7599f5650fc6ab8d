/**
 * One generation request while the scheduler holds it: its stream, whether its first byte has
 * gone to the client, the worker deaths it went through, and what its stream has passed on, so
 * that a stream can be continued on another worker. Pure: no timer, no process.
 */
import {
  EventChannel,
  type GenerationEvent,
  type GenerationJob,
  type StreamEvent,
} from "../engine/index.js";
import type { StreamProgress } from "./recovery.js";

export class Ticket {
  readonly channel = new EventChannel<StreamEvent>();
  committed = false;
  cancelled = false;
  /** Workers that died while decoding it. */
  losses = 0;
  /** Replicas it was lost on: it is never placed there again. */
  readonly avoid = new Set<string>();
  /** What its stream has passed on (token ids, held-back text), to resume it elsewhere. */
  progress: StreamProgress = { tokens: [], pending: "" };
  /** Every text event so far named its token ids. */
  resumable = true;
  /** Its prompt's block chain, for prefix-affinity routing. */
  prefix?: readonly number[];
  /** The job as it runs now: the original, or its continuation after a worker died. */
  job: GenerationJob;

  /** `createdAt`: when it arrived, in the caller's clock (for the queue-time figure). */
  constructor(
    readonly original: GenerationJob,
    readonly priority: number,
    readonly createdAt: number,
  ) {
    this.job = original;
  }

  get id(): string {
    return this.original.id;
  }

  /**
   * A background request whose stream can be continued from its tokens: it may give its slot
   * up to an interactive request and go on later (recovery.ts's continuation).
   */
  get preemptible(): boolean {
    return this.priority < 0 && this.resumable && !this.cancelled;
  }

  /** Records a text event passed on to the stream. */
  track(event: Extract<GenerationEvent, { type: "text" }>): void {
    if (event.ids === undefined || event.ids.length !== event.tokens) {
      this.resumable = false;
      return;
    }
    this.progress.tokens.push(...event.ids);
    this.progress.pending = event.pending ?? "";
  }

  /** Starts over from the original job (nothing reached the client). */
  restart(): void {
    this.job = this.original;
    this.progress = { tokens: [], pending: "" };
    this.resumable = true;
  }
}
