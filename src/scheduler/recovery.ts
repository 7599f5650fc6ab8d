/**
 * What becomes of a request whose worker died under it. Pure: the host applies the verdict.
 *
 * A request that has not sent anything to its client moves to another replica (re-queued
 * ahead of its priority); one whose stream has begun cannot be replayed and ends with
 * engine_failure; one that two workers died running is refused as a possible query of death,
 * so that it cannot take down every replica in turn.
 */

export type LossVerdict =
  /** The client went away: end the stream quietly. */
  | "drop"
  /** The server is stopping its workers on purpose: nowhere to re-queue to. */
  | "shutting_down"
  /** Bytes already reached the client: end the stream with engine_failure. */
  | "fail_stream"
  /** The second worker died running it: refuse with request_crashed_workers. */
  | "refuse"
  /** Run it again elsewhere, from the start. */
  | "requeue";

export interface LostRequest {
  cancelled: boolean;
  /** The first byte went to the client. */
  committed: boolean;
  /** Workers that died running this request, this death included. */
  losses: number;
}

/** Workers a request may take down before it is refused. */
export const MAX_WORKER_LOSSES = 2;

export function lossVerdict(request: LostRequest, closing: boolean): LossVerdict {
  if (request.cancelled) return "drop";
  if (closing) return "shutting_down";
  if (request.committed) return "fail_stream";
  if (request.losses >= MAX_WORKER_LOSSES) return "refuse";
  return "requeue";
}
