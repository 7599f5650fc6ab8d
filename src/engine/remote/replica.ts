/**
 * One period of service of a remote backend, as an engine replica: it lives from the health
 * check that let the backend in to its ejection (then the backend gets a new replica, with a new
 * id, after a successful half-open probe). A request lost on it (the connection failed, the
 * backend answered 502/503/504 or 429, or the stream broke) ends with ReplicaLostError, so the
 * supervisor's recovery applies unchanged: a request that has sent nothing to its client is
 * re-queued on another replica or backend; a stream that began cannot be resumed (a remote
 * backend reports no token ids) and ends with engine_failure.
 */
import { drainJobs } from "../child-exit.js";
import { EngineJobError } from "../errors.js";
import {
  ReplicaLostError,
  type EmbeddingResult,
  type EngineReplica,
  type GenerationJob,
  type GenerationListener,
  type ModelInfo,
  type PreparedPrompt,
  type PromptInput,
  type ReplicaState,
  type ReplicaStats,
} from "../types.js";
import { AnswerReader, SseLines, errorOfBody, unreadable } from "./answer.js";
import { readErrorBody, type BackendConnection } from "./connection.js";
import { backendCall } from "./request-body.js";

/** How a request on the backend ended, for its health. */
export type Outcome = "ok" | "failure" | "client_error";

export interface RemoteReplicaOptions {
  id: string;
  modelName: string;
  /** The model's name on the backend. */
  backendModel: string;
  slots: number;
  info: ModelInfo;
  connection: BackendConnection;
  /** Each request's outcome (passive health). */
  report(outcome: Outcome): void;
}

interface RunningJob {
  job: GenerationJob;
  listener: GenerationListener;
  controller: AbortController;
  reader: AnswerReader;
  ended: boolean;
}

/** Statuses after which the request goes elsewhere: the backend is down, overloaded or busy. */
const LOST_STATUSES = new Set([429, 502, 503, 504]);

/**
 * Characters per token for the estimate of a prompt's length before the backend counts it
 * (about 4 for English with common BPE vocabularies; the estimate only sizes the token
 * reservation and the max_tokens default, and the real count comes back in usage).
 */
export const CHARS_PER_TOKEN = 4;

/** The estimated tokens of an input, for a prompt that is not tokenized here. */
export function estimateTokens(input: PromptInput): number {
  switch (input.kind) {
    case "tokens":
      return input.tokens.length;
    case "text":
      return Math.ceil(input.text.length / CHARS_PER_TOKEN);
    case "chat": {
      // A few tokens of the chat format per message, as OpenAI's counting guide does.
      const chars = input.messages.reduce((n, m) => n + m.content.length, 0);
      return Math.ceil(chars / CHARS_PER_TOKEN) + 4 * input.messages.length;
    }
  }
}

export class RemoteReplica implements EngineReplica {
  readonly id: string;
  readonly modelName: string;
  readonly slots: number;
  readonly remote = true;
  private current: ReplicaState = "ready";
  private readonly jobs = new Map<string, RunningJob>();
  private readonly exitCallbacks: ((reason: string) => void)[] = [];
  private progressAt = Date.now();
  private generated = 0;

  constructor(private readonly o: RemoteReplicaOptions) {
    this.id = o.id;
    this.modelName = o.modelName;
    this.slots = o.slots;
  }

  state(): ReplicaState {
    return this.current;
  }

  info(): ModelInfo {
    return this.o.info;
  }

  async start(): Promise<ModelInfo> {
    return this.o.info;
  }

  /** The backend tokenizes: the prompt keeps its input and an estimate of its length. */
  async prepare(input: PromptInput): Promise<PreparedPrompt> {
    return {
      tokens: [],
      stopStrings: [],
      stopTokens: [],
      input,
      estimatedTokens: estimateTokens(input),
    };
  }

  generate(job: GenerationJob, listener: GenerationListener): void {
    if (this.current !== "ready") {
      listener.onError(
        new ReplicaLostError(`backend ${this.id} is out of service`, this.id, false),
      );
      return;
    }
    let call;
    try {
      call = backendCall(job, this.o.backendModel);
    } catch (err) {
      listener.onError(err as Error);
      return;
    }
    const running: RunningJob = {
      job,
      listener,
      controller: new AbortController(),
      reader: new AnswerReader(),
      ended: false,
    };
    if (this.jobs.size === 0) this.progressAt = Date.now();
    this.jobs.set(job.id, running);
    void this.run(running, call.path, call.body);
  }

  private async run(running: RunningJob, path: string, body: unknown): Promise<void> {
    const started = performance.now();
    let res;
    try {
      res = await this.o.connection.post(path, body, running.controller.signal);
    } catch (err) {
      this.lost(running, `request failed: ${(err as Error).message}`);
      return;
    }
    if (running.ended) {
      res.body.destroy();
      return;
    }
    if (res.status < 200 || res.status >= 300) {
      const parsed = await readErrorBody(res.body).catch(() => undefined);
      if (LOST_STATUSES.has(res.status)) {
        this.lost(running, `answered ${res.status}`);
        return;
      }
      const err = errorOfBody(parsed, res.status);
      this.end(running, err, err.code === "backend_error" ? "failure" : "client_error");
      return;
    }
    const lines = new SseLines();
    try {
      for await (const chunk of res.body) {
        if (running.ended) return;
        for (const payload of lines.push(chunk as Buffer)) {
          for (const event of running.reader.read(payload)) {
            this.progressAt = Date.now();
            this.generated += event.type === "text" ? event.tokens : 0;
            running.listener.onEvent(event);
            if (running.ended) return;
          }
        }
        if (running.reader.done) break;
      }
    } catch (err) {
      if (running.ended) return;
      if (err instanceof EngineJobError) this.end(running, err, "failure");
      else this.lost(running, `stream broke: ${(err as Error).message}`);
      return;
    }
    res.body.destroy();
    if (running.ended) return;
    if (lines.leftover) {
      this.end(running, unreadable("an answer that is not an event stream"), "failure");
      return;
    }
    const promptTokens = running.job.prompt.estimatedTokens ?? running.job.prompt.tokens.length;
    const done = running.reader.end(promptTokens, performance.now() - started);
    if (!done) {
      // A stream cut off before its finish reason: the backend went away mid-answer.
      if (running.reader.textPieces === 0 && !running.reader.done) {
        this.lost(running, "stream ended before any answer");
      } else {
        this.end(running, unreadable("an answer without its end"), "failure");
      }
      return;
    }
    this.finish(running);
    this.o.report("ok");
    running.listener.onEvent(done);
  }

  private finish(running: RunningJob): void {
    running.ended = true;
    this.jobs.delete(running.job.id);
  }

  /**
   * The request goes elsewhere (or its stream ends with engine_failure once it began). A
   * request cut by the gateway itself (a stop at shutdown) says nothing of the backend's health.
   */
  private lost(running: RunningJob, reason: string, report = true): void {
    if (running.ended) return;
    this.finish(running);
    running.controller.abort();
    if (report) this.o.report("failure");
    running.listener.onError(new ReplicaLostError(`backend ${this.id}: ${reason}`, this.id, false));
  }

  private end(running: RunningJob, err: Error, outcome: Outcome): void {
    if (running.ended) return;
    this.finish(running);
    running.controller.abort();
    this.o.report(outcome);
    running.listener.onError(err);
  }

  abort(jobId: string): void {
    const running = this.jobs.get(jobId);
    if (!running) return;
    this.finish(running);
    // Closing the request makes the backend stop generating and free its slot.
    running.controller.abort();
    running.listener.onEvent({
      type: "done",
      finishReason: "abort",
      promptTokens: running.job.prompt.estimatedTokens ?? running.job.prompt.tokens.length,
      completionTokens: running.reader.textPieces,
      timings: { cachedTokens: 0, promptMs: 0, generationMs: 0 },
    });
  }

  async embed(_inputs: PromptInput[]): Promise<EmbeddingResult> {
    throw new EngineJobError(
      "unsupported_parameter",
      "Embeddings are not served for a model served by a remote backend.",
    );
  }

  async detokenize(_tokens: number[]): Promise<string> {
    throw new EngineJobError(
      "unsupported_parameter",
      "Token ids cannot be turned into text for a model served by a remote backend.",
    );
  }

  stats(): ReplicaStats {
    return { busySlots: this.jobs.size, generatedTokens: this.generated, rssBytes: 0, pid: null };
  }

  lastHeartbeatAt(): number {
    return Date.now();
  }

  lastProgressAt(): number {
    return this.progressAt;
  }

  activeJobs(): number {
    return this.jobs.size;
  }

  onExit(callback: (reason: string) => void): void {
    this.exitCallbacks.push(callback);
  }

  /**
   * Out of service (ejected, or the server stops): takes no new request. Running requests go
   * on, to the deadline when stopping; `kill` ends them at once as lost.
   */
  retire(reason: string): void {
    if (this.current !== "ready") return;
    this.current = "dead";
    for (const cb of this.exitCallbacks.splice(0)) cb(reason);
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.current === "ready") this.current = "draining";
    await drainJobs(this.jobs, deadlineMs);
    this.current = "stopped";
    this.kill("stopped");
  }

  kill(reason: string): void {
    const stopping = this.current === "stopped";
    if (this.current === "ready") this.current = "dead";
    for (const running of [...this.jobs.values()]) this.lost(running, reason, !stopping);
    for (const cb of this.exitCallbacks.splice(0)) cb(reason);
  }
}
