/**
 * The engine-client port: what every consumer of a served model (gateway, registry, guards)
 * uses. The supervisor's local workers implement it (ModelHost); a remote backend can too. It
 * speaks only engine types, so nothing above it depends on how a model is run.
 */
import type {
  EmbeddingResult,
  GenerationEvent,
  GenerationJob,
  ModelInfo,
  PreparedPrompt,
  PromptInput,
} from "./types.js";
import type { BackendStatus } from "./remote/index.js";

/** What a generation stream yields: engine events, or `restart` when the request moved to
 * another worker and everything read so far must be discarded. */
export type StreamEvent = GenerationEvent | { type: "restart" };

export interface GenerationStream extends AsyncIterable<StreamEvent> {
  /** Call before the first byte goes to the client: from then on a worker death ends the
   * request with an error instead of restarting it. */
  commit(): void;
  /** Stops the request (client gone, timeout); frees its slot. */
  cancel(): void;
}

/** One replica of a served model, as /readyz and the admin status show it. */
export interface ReplicaStatus {
  id: string;
  state: string;
  pid: number | null;
  busySlots: number;
  slots: number;
  restarts: number;
  rssBytes: number;
  loadMs: number | null;
  lastError: string | null;
}

/** An autoscaled model's replicas, as /health shows them (times in epoch ms). */
export interface AutoscaleState {
  min: number;
  max: number;
  /** Replicas counted now: ready or loading, not being stopped. */
  replicas: number;
  pressureSince: number | null;
  idleSince: number | null;
  cooldownUntil: number | null;
  /** Decisions taken since the start, by action (up, down, up_refused). */
  decisions: Record<string, number>;
  /** The latest decisions, newest first. */
  recent: {
    at: number;
    action: string;
    from: number;
    to: number;
    replica: string | null;
    reason: string;
  }[];
}

export interface ModelStatus {
  name: string;
  ready: boolean;
  loadMs: number | null;
  /** The GPU backend in use ("cpu" without one), threads per worker, and the chat format. */
  gpu: string | null;
  threads: number | null;
  chatFormat: string | null;
  contextSize: number | null;
  /** Unloaded whole to free memory: it loads again on its next request. */
  unloaded: boolean;
  replicas: ReplicaStatus[];
  /** Remote backends: state, health-check latency, requests in flight. */
  backends?: BackendStatus[];
  slots: { busy: number; total: number };
  queue: { waiting: number; limit: number };
  /** An autoscaled model's range, state and recent decisions (src/supervisor/autoscaler.ts). */
  autoscale?: AutoscaleState;
}

/** The gateway's view of a served model. */
export interface ServedModel {
  readonly name: string;
  /** When the model was configured (epoch seconds), for /v1/models. */
  readonly created: number;
  info(): ModelInfo | undefined;
  isReady(): boolean;
  /** Unloaded whole to free memory: not ready, yet serving (its next request loads it). */
  isUnloaded(): boolean;
  status(): ModelStatus;
  prepare(input: PromptInput): Promise<PreparedPrompt>;
  generate(job: GenerationJob, options?: { priority?: number }): GenerationStream;
  embed(inputs: PromptInput[]): Promise<EmbeddingResult>;
  detokenize(tokens: number[]): Promise<string>;
}
