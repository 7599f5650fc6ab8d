/**
 * The engine boundary. An EngineReplica is one loaded copy of one model (a llama.cpp worker
 * process, or the in-process fake used by HTTP tests). Everything above it (supervisor,
 * dispatcher, gateway) speaks only these types.
 */

/** What the model is, as reported by a replica once it has loaded. */
export interface ModelInfo {
  /** Tokens each slot can hold (prompt + completion). */
  contextSize: number;
  /** The context length the model was trained with (from the GGUF). */
  trainContextSize: number;
  slots: number;
  vocabularySize: number;
  embeddingSize: number;
  architecture: string;
  /** Chat formatting in use: the GGUF template, or the documented fallback. */
  chatFormat: string;
  bosToken: number | null;
  eosToken: number | null;
  /** Milliseconds from spawn to ready. */
  loadMs: number;
  /** The GPU backend in use, or "cpu". */
  gpu: string;
  threads: number;
  /** What this backend and the model's chat format can do (advertised by /v1/models). */
  features: ModelFeatures;
}

export interface ModelFeatures {
  embeddings: boolean;
  /** Log-probabilities of the prompt's own tokens (completions `echo` with `logprobs`). */
  promptLogprobs: boolean;
  /**
   * The chat format whose own function-call syntax renders tool calls (node-llama-cpp's
   * wrapper name), or null: the format has none, and tools use Bulwark's grammar route.
   */
  toolCallFormat: string | null;
}

/** A call the assistant made, as a message in the conversation carries it. */
export interface ChatToolCall {
  id: string;
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
}

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content: string;
  /** An assistant message's calls. */
  toolCalls?: ChatToolCall[];
  /** A tool message: the call it answers. */
  toolCallId?: string;
}

/** A function the model may call: its name, description and JSON-schema parameters. */
export interface ToolSpec {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

/** Input to turn into prompt tokens. */
export type PromptInput =
  | { kind: "text"; text: string; addSpecial: boolean }
  | { kind: "tokens"; tokens: number[] }
  | { kind: "chat"; messages: ChatMessage[]; tools?: ToolSpec[] };

/** A prompt ready for generation. */
export interface PreparedPrompt {
  tokens: number[];
  /** Extra stop strings the chat format needs (hidden from the output, like a stop sequence). */
  stopStrings: string[];
  /** Extra stop tokens the chat format needs. */
  stopTokens: number[];
  /**
   * The input the prompt was made from: a remote backend is sent this (messages or text), not
   * the token ids, which are another engine's.
   */
  input?: PromptInput;
  /**
   * Prepared by a remote backend: `tokens` is empty and this is an estimate of the prompt's
   * length (the backend reports the real one in usage; docs/architecture.md).
   */
  estimatedTokens?: number;
}

/** A constrained-output grammar: node-llama-cpp's built-in JSON grammar, or compiled GBNF. */
export type GrammarSpec = { kind: "json" } | { kind: "gbnf"; text: string };

export interface SamplingParams {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  seed?: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** Token id → bias; -Infinity forbids a token. */
  logitBias?: Record<number, number>;
}

/** One generation, as a replica runs it. */
export interface GenerationJob {
  id: string;
  prompt: PreparedPrompt;
  sampling: SamplingParams;
  maxTokens: number;
  stop: string[];
  ignoreEos: boolean;
  grammar?: GrammarSpec;
  /**
   * Log-probabilities: each text event then carries one entry per token with this many most
   * likely alternatives (0..20). Undefined: none.
   */
  logprobs?: number;
  /** Also report the log-probability of every prompt token after the first (echo). */
  promptLogprobs?: boolean;
  /** Marks a request for the test-only worker hooks; ignored unless engine.testHooks is on. */
  testHook?: "hang" | "crash";
  /**
   * Continues a generation a dead worker began: `tokens` were generated and their text sent
   * (they follow the prompt; max_tokens counts them), `pending` is the end of that text the
   * stop-string matcher still held back (a possible start of a stop string), not sent yet.
   */
  resume?: GenerationResume;
}

export interface GenerationResume {
  tokens: number[];
  pending: string;
}

export type FinishReason = "stop" | "length" | "abort";

/** A token and its log-probability; `bytes` is its UTF-8 text (a token may end mid-character). */
export interface TokenAlternative {
  token: string;
  bytes: number[];
  logprob: number;
}

/** One generated (or prompt) token's log-probability and the most likely alternatives. */
export interface TokenLogprob extends TokenAlternative {
  top: TokenAlternative[];
}

export interface GenerationTimings {
  /** Prompt tokens taken from the slot's cache instead of being evaluated. */
  cachedTokens: number;
  promptMs: number;
  generationMs: number;
}

/**
 * What a replica reports while it generates. A text event may name the ids of the tokens it
 * completes (`ids`, as many as `tokens`) and the text generated but held back after it
 * (`pending`): with them a stream survives its worker's death (see GenerationJob.resume).
 */
export type GenerationEvent =
  | {
      type: "text";
      text: string;
      tokens: number;
      ids?: number[];
      pending?: string;
      /** With job.logprobs: one entry per token of this event. */
      logprobs?: TokenLogprob[];
    }
  /** With job.promptLogprobs, before any text: one entry per prompt token after the first. */
  | { type: "prompt"; first: string; logprobs: TokenLogprob[] }
  | {
      type: "done";
      finishReason: FinishReason;
      promptTokens: number;
      completionTokens: number;
      timings: GenerationTimings;
    };

/** Receives a job's events; exactly one of done/error ends it. */
export interface GenerationListener {
  onEvent(event: GenerationEvent): void;
  onError(error: Error): void;
}

export interface EmbeddingResult {
  embeddings: number[][];
  promptTokens: number;
}

/** Live figures a replica reports (from its heartbeats). */
export interface ReplicaStats {
  busySlots: number;
  generatedTokens: number;
  rssBytes: number;
  pid: number | null;
}

export type ReplicaState = "starting" | "ready" | "draining" | "stopped" | "dead";

/**
 * Why a replica stopped serving: given to every job and call it held. `decoding`: the worker
 * had begun evaluating this job or call (not merely received or queued it), so the request may
 * be what killed it. A backend that cannot tell leaves it true: every death then counts.
 */
export class ReplicaLostError extends Error {
  constructor(
    message: string,
    readonly replicaId: string,
    readonly decoding = true,
  ) {
    super(message);
    this.name = "ReplicaLostError";
  }
}

/** One loaded copy of a model. */
export interface EngineReplica {
  readonly id: string;
  readonly modelName: string;
  readonly slots: number;
  /** A remote backend: runs a prompt from its `input` and needs no token ids. */
  readonly remote?: boolean;
  state(): ReplicaState;
  info(): ModelInfo | undefined;
  /** Loads the model; resolves when it can serve. */
  start(): Promise<ModelInfo>;
  prepare(input: PromptInput): Promise<PreparedPrompt>;
  /** Starts a job on a free slot; the listener gets its events. */
  generate(job: GenerationJob, listener: GenerationListener): void;
  abort(jobId: string): void;
  embed(inputs: PromptInput[]): Promise<EmbeddingResult>;
  detokenize(tokens: number[]): Promise<string>;
  stats(): ReplicaStats;
  /** Epoch ms of the last sign of life (heartbeat or any message). */
  lastHeartbeatAt(): number;
  /** Epoch ms of the last token produced, or of the start of the oldest running job. */
  lastProgressAt(): number;
  /** Number of jobs running. */
  activeJobs(): number;
  /** Registers the callback for an unexpected end (crash, kill); called once. */
  onExit(callback: (reason: string) => void): void;
  /** Graceful stop: waits for running jobs up to the deadline, then kills. */
  stop(deadlineMs: number): Promise<void>;
  /** Immediate kill (hung or crashed worker). */
  kill(reason: string): void;
}

/** Builds replicas; the supervisor calls it for every (re)start. */
export type ReplicaFactory = (spec: ReplicaSpec) => EngineReplica;

export interface ReplicaSpec {
  id: string;
  modelName: string;
  modelPath: string;
  slots: number;
  threads: number;
  contextSize: number;
  batchSize: number;
  gpu: string;
  chatWrapper: string;
}
