/** Messages between `validateModel` and its worker process. */
import type { ReplicaSpec } from "../../engine/index.js";

export type WorkerCheckName = "tokenizer" | "determinism" | "perplexity" | "speed";

export interface WorkerRequest {
  spec: ReplicaSpec;
  checks: WorkerCheckName[];
  generateTokens: number;
}

export interface WorkerCheckResult {
  name: WorkerCheckName;
  ok: boolean;
  detail: string;
  values?: Record<string, number | string | boolean>;
}

export type WorkerMessage =
  | { type: "progress"; step: string }
  | { type: "loaded"; loadMs: number; info: Record<string, unknown> }
  | { type: "check"; result: WorkerCheckResult }
  | { type: "finished"; peakRssBytes: number }
  | { type: "failed"; stage: string; message: string };
