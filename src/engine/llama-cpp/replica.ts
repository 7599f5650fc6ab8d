/**
 * The gateway's side of one engine worker: forks the worker process, speaks the IPC protocol,
 * tracks running jobs, heartbeats and progress, and reports the worker's death to every job it
 * held (as ReplicaLostError), so the dispatcher can re-queue them.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import type { Logger } from "../../observability/index.js";
import {
  decodePrepared,
  decodeWorkerMessage,
  encode,
  encodeJob,
  type ParentMessage,
  type WorkerMessage,
} from "./protocol.js";
import {
  ReplicaLostError,
  type EmbeddingResult,
  type EngineReplica,
  type GenerationJob,
  type GenerationListener,
  type ModelInfo,
  type PreparedPrompt,
  type PromptInput,
  type ReplicaSpec,
  type ReplicaState,
  type ReplicaStats,
} from "../types.js";
import { EngineJobError } from "../errors.js";
import { workerEnv } from "../../util/worker-env.js";
import { awaitStop, ChildExit, drainJobs } from "../child-exit.js";

export interface LlamaCppReplicaOptions {
  heartbeatIntervalMs: number;
  loadTimeoutMs: number;
  testHooks: boolean;
  logger: Logger;
  /** Worker entry; defaults to the compiled worker-main.js next to this file. */
  workerPath?: string;
  /** Node.js flags for the worker process (engine.workerNodeOptions); none by default. */
  nodeOptions?: readonly string[];
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** The worker began evaluating it (an embedding call), so its death may be this call's. */
  started?: boolean;
}

interface RunningJob {
  listener: GenerationListener;
  /** The worker began decoding it: a death from now on may be this job's doing. */
  started: boolean;
}

const WORKER_PATH = new URL("./worker-main.js", import.meta.url);

export class LlamaCppReplica implements EngineReplica {
  readonly id: string;
  readonly modelName: string;
  readonly slots: number;
  private child: ChildProcess | undefined;
  private currentState: ReplicaState = "starting";
  private modelInfo: ModelInfo | undefined;
  private readonly calls = new Map<string, PendingCall>();
  private readonly jobs = new Map<string, RunningJob>();
  private heartbeatAt = Date.now();
  private progressAt = Date.now();
  private lastStats: ReplicaStats = { busySlots: 0, generatedTokens: 0, rssBytes: 0, pid: null };
  private readonly exit = new ChildExit();
  private readonly log: Logger;

  constructor(
    private readonly spec: ReplicaSpec,
    private readonly options: LlamaCppReplicaOptions,
  ) {
    this.id = spec.id;
    this.modelName = spec.modelName;
    this.slots = spec.slots;
    this.log = options.logger.child({ replica: spec.id, model: spec.modelName });
  }

  state(): ReplicaState {
    return this.currentState;
  }

  info(): ModelInfo | undefined {
    return this.modelInfo;
  }

  start(): Promise<ModelInfo> {
    const child = fork(this.options.workerPath ?? WORKER_PATH, [], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
      // Not the gateway's flags: a worker runs only the ones configured for it.
      execArgv: [...(this.options.nodeOptions ?? [])],
      // It parses the model file: none of the gateway's secrets in its environment.
      env: workerEnv(),
    });
    this.child = child;
    this.lastStats.pid = child.pid ?? null;
    this.forwardOutput(child);
    return new Promise<ModelInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`model load took longer than ${this.options.loadTimeoutMs} ms`));
        this.kill("load timeout");
      }, this.options.loadTimeoutMs);
      const onMessage = (raw: unknown) => {
        let message: WorkerMessage;
        try {
          message = decodeWorkerMessage(raw);
        } catch (err) {
          this.log.error({ err: (err as Error).message }, "bad message from worker");
          this.kill("protocol error");
          return;
        }
        if (message.type === "ready") {
          clearTimeout(timer);
          this.modelInfo = message.info;
          this.currentState = "ready";
          this.heartbeatAt = this.progressAt = Date.now();
          resolve(message.info);
        } else if (message.type === "load_failed") {
          clearTimeout(timer);
          reject(new Error(message.message));
        } else {
          this.handle(message);
        }
      };
      child.on("message", onMessage);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        const reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
        reject(new Error(`worker ${reason} while loading`));
        this.onChildExit(reason);
      });
      child.once("error", (err) => this.log.error({ err: err.message }, "worker process error"));
      this.send({
        type: "init",
        spec: this.spec,
        heartbeatIntervalMs: this.options.heartbeatIntervalMs,
        testHooks: this.options.testHooks,
      });
    });
  }

  private forwardOutput(child: ChildProcess): void {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        if (line.trim()) this.log.warn({ source: "worker-output" }, line);
      });
    }
  }

  private handle(message: WorkerMessage): void {
    this.heartbeatAt = Date.now();
    switch (message.type) {
      case "started": {
        const job = this.jobs.get(message.id);
        if (job) job.started = true;
        const call = this.calls.get(message.id);
        if (call) call.started = true;
        return;
      }
      case "token": {
        this.progressAt = this.heartbeatAt;
        this.jobs.get(message.id)?.listener.onEvent({
          type: "text",
          text: message.text,
          tokens: message.tokens,
          ids: message.ids,
          pending: message.pending ?? "",
          ...(message.logprobs ? { logprobs: message.logprobs } : {}),
        });
        return;
      }
      case "prompt_logprobs":
        this.progressAt = this.heartbeatAt;
        this.jobs.get(message.id)?.listener.onEvent({
          type: "prompt",
          first: message.first,
          logprobs: message.logprobs,
        });
        return;
      case "done": {
        this.progressAt = this.heartbeatAt;
        const listener = this.jobs.get(message.id)?.listener;
        this.jobs.delete(message.id);
        listener?.onEvent({
          type: "done",
          finishReason: message.finishReason,
          promptTokens: message.promptTokens,
          completionTokens: message.completionTokens,
          timings: {
            cachedTokens: message.cachedTokens,
            promptMs: message.promptMs,
            generationMs: message.generationMs,
          },
        });
        return;
      }
      case "job_error": {
        const listener = this.jobs.get(message.id)?.listener;
        this.jobs.delete(message.id);
        listener?.onError(new EngineJobError(message.code, message.message));
        return;
      }
      case "result":
      case "failure": {
        const call = this.calls.get(message.id);
        this.calls.delete(message.id);
        if (!call) return;
        if (message.type === "result") call.resolve(message.value);
        else call.reject(new EngineJobError(message.code, message.message));
        return;
      }
      case "heartbeat":
        this.lastStats = { ...message.stats, pid: this.lastStats.pid };
        return;
      case "log":
        this.log[message.level]({ source: "llama.cpp" }, message.message);
        return;
      default:
        return;
    }
  }

  private onChildExit(reason: string): void {
    if (!this.exit.record(reason)) return;
    const expected = this.currentState === "stopped";
    this.currentState = expected ? "stopped" : "dead";
    const lost = (decoding: boolean) =>
      new ReplicaLostError(`engine worker ${this.id} ${reason}`, this.id, decoding);
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.reject(lost(call.started === true));
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.listener.onError(lost(job.started));
    this.exit.announce();
  }

  private send(message: ParentMessage): void {
    const child = this.child;
    if (!child || !child.connected) {
      throw new ReplicaLostError(`engine worker ${this.id} is not running`, this.id, false);
    }
    child.send(encode(message));
  }

  private call(message: ParentMessage & { id: string }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.calls.set(message.id, { resolve, reject });
      try {
        this.send(message);
      } catch (err) {
        this.calls.delete(message.id);
        reject(err as Error);
      }
    });
  }

  async prepare(input: PromptInput): Promise<PreparedPrompt> {
    return decodePrepared(await this.call({ type: "prepare", id: randomUUID(), input }));
  }

  generate(job: GenerationJob, listener: GenerationListener): void {
    if (this.jobs.size === 0) this.progressAt = Date.now();
    this.jobs.set(job.id, { listener, started: false });
    try {
      this.send({ type: "generate", job: encodeJob(job) });
    } catch (err) {
      this.jobs.delete(job.id);
      listener.onError(err as Error);
    }
  }

  abort(jobId: string): void {
    if (!this.jobs.has(jobId)) return;
    try {
      this.send({ type: "abort", id: jobId });
    } catch {
      // The worker is gone; its exit handler already ended the job.
    }
  }

  async embed(inputs: PromptInput[]): Promise<EmbeddingResult> {
    const value = (await this.call({ type: "embed", id: randomUUID(), inputs })) as EmbeddingResult;
    return value;
  }

  async detokenize(tokens: number[]): Promise<string> {
    return String(await this.call({ type: "detokenize", id: randomUUID(), tokens }));
  }

  stats(): ReplicaStats {
    return { ...this.lastStats, busySlots: this.jobs.size };
  }

  lastHeartbeatAt(): number {
    return this.heartbeatAt;
  }

  lastProgressAt(): number {
    return this.progressAt;
  }

  activeJobs(): number {
    return this.jobs.size;
  }

  onExit(callback: (reason: string) => void): void {
    this.exit.onExit(callback);
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.exit.reason !== undefined) return;
    this.currentState = "draining";
    await drainJobs(this.jobs, deadlineMs);
    this.currentState = "stopped";
    try {
      this.send({ type: "shutdown" });
    } catch {
      // already gone
    }
    await awaitStop(this.child, this.exit);
  }

  kill(reason: string): void {
    if (this.exit.reason !== undefined || !this.child) return;
    this.log.warn({ reason }, "killing engine worker");
    this.child.kill("SIGKILL");
  }
}
